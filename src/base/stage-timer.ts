/**
 * Opt-in CPU time per stage of the request path, so `npm run bench` can show where a request's
 * time goes without a profiler. Internal (not exported by the package): the bench switches it on
 * with `setStageTiming`; off, every call is one boolean check. Times are the synchronous part of
 * each stage (a store call's wait for memcached is not CPU time and is not counted).
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

let enabled = false;
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

/** Switches timing on or off; switching it on starts the totals from zero. */
export function setStageTiming(on: boolean): void {
  enabled = on;
  if (on) for (const total of totals.values()) Object.assign(total, { ms: 0, count: 0 });
}

/** Milliseconds spent and times entered per stage since timing was switched on. */
export function stageTotals(): Record<Stage, { ms: number; count: number }> {
  return Object.fromEntries([...totals].map(([stage, t]) => [stage, { ...t }])) as Record<Stage, { ms: number; count: number }>;
}
