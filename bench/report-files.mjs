// Where `npm run bench` puts its report besides bench/results/: the full tables go into
// docs/performance.md and a short table into the README, each between its pair of markers, so
// the hand-written text around them stays as it is.
import { readFileSync, writeFileSync } from 'node:fs';

/** The README's short table: these configurations' "× Express", for each payload and workload. */
const SUMMARY_CONFIGS = [
  ['express-session+MemoryStore', 'express-session + MemoryStore'],
  ['express-session+connect-redis', 'express-session + connect-redis'],
  ['msm sticky', 'sticky, memcached'],
  ['msm sticky redis', 'sticky, Redis'],
  ['msm sticky peers (backup)', 'sticky, `peers` (no store)'],
  ['msm non-sticky (locking none)', 'non-sticky, memcached'],
  ['msm non-sticky redis (locking none)', 'non-sticky, Redis'],
];
/** The configurations the short table shows. */
export const SUMMARY_CONFIG_NAMES = SUMMARY_CONFIGS.map(([config]) => config);
const SUMMARY_COLUMNS = [
  ['small', 'read-heavy', '200 B, read-heavy'],
  ['small', 'write-heavy', '200 B, write-heavy'],
  ['large', 'read-heavy', '20 KB, read-heavy'],
  ['large', 'write-heavy', '20 KB, write-heavy'],
];

/** The Node major version whose summary is the README's table (the Active LTS). */
export const README_NODE_MAJOR = '26';

/**
 * The README's table: each row's "× Express" (median of its per-round ratios to plain Express)
 * from `rows` as bench/run.mjs records them, under a line naming `machine` and `date`.
 */
export function summaryTable(rows, machine, date) {
  const cell = (payload, workload, config) => {
    const row = rows.find((r) => r.payload === payload && r.workload === workload && r.config === config);
    return row ? `${row.timesExpress.toFixed(2)}×` : '–';
  };
  return [
    `${machine}; ${date}. Read-heavy is 95% reads, write-heavy 50%.`,
    '',
    `| configuration | ${SUMMARY_COLUMNS.map(([, , title]) => title).join(' | ')} |`,
    `|---|${SUMMARY_COLUMNS.map(() => '---:').join('|')}|`,
    ...SUMMARY_CONFIGS.map(([config, title]) => `| ${title} | ${SUMMARY_COLUMNS.map(([p, w]) => cell(p, w, config)).join(' | ')} |`),
  ].join('\n');
}

/** Replaces what is between `<!-- name:start -->` and `<!-- name:end -->` in `file` with `content`. */
export function replaceBetweenMarkers(file, name, content) {
  const text = readFileSync(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${file} has no ${start} … ${end} markers for the benchmark results`);
  writeFileSync(file, `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`);
}
