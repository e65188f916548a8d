/**
 * Opt-in CPU time per stage of the request path, so `npm run bench` can show where a request's
 * time goes without a profiler. Enabled only by the environment variable MSM_STAGE_TIMING=1 when
 * the module loads; off, every call is one constant check. Times are the synchronous part of each
 * stage (a store call's wait for memcached is not CPU time and is not counted).
 */
export const STAGES = [
  'cookie verify',
  'load',
  'parse',
  'session objects',
  'response hooks',
  'change detection',
  'serialization',
  'save/touch call',
  'cookie write',
] as const;

export type Stage = (typeof STAGES)[number];

const enabled = process.env.MSM_STAGE_TIMING === '1';
const totals = new Map<Stage, { ms: number; count: number }>(STAGES.map((stage) => [stage, { ms: 0, count: 0 }]));

/** A start time for `stageEnd` (0 when timing is off). */
export function stageStart(): number {
  return enabled ? performance.now() : 0;
}

/** Adds the time since `started` to `stage`. */
export function stageEnd(stage: Stage, started: number): void {
  if (!enabled) return;
  const total = totals.get(stage)!;
  total.ms += performance.now() - started;
  total.count++;
}

/** Milliseconds spent and times entered per stage since the process started (empty when off). */
export function stageTotals(): Partial<Record<Stage, { ms: number; count: number }>> {
  return enabled ? Object.fromEntries([...totals].map(([stage, t]) => [stage, { ...t }])) : {};
}
