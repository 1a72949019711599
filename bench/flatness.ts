// The soak's memory verdict (bench/soak.ts, docs/operations.md "Soak"): is a process's RSS flat over the run?
//
// Raw RSS samples of a Node process are a sawtooth: the heap fills with garbage between
// collections and drops after each one (the API swings by ± 30 MB at a few operations per second),
// so a line fitted to raw samples mostly measures where the run happened to stop in the last few
// cycles. What a leak raises is the floor the sawtooth returns to after each collection. The run
// after warm-up is cut into windows longer than a GC cycle, each window contributes its minimum
// (the post-GC floor), and the verdict is taken on those floors: a least-squares slope over the
// second half and the growth of the last quarter's floors over the first quarter's. A leak of
// 2 MB/min raises every later floor by 2 MB a minute and fails a 1 MB/min bound; a plateau with
// any amount of sawtooth passes.

export interface Flatness {
  warmupS: number;
  /** Window length (s) whose minimum is taken as the post-GC floor. */
  windowS: number;
  startMb: number;
  endMb: number;
  peakMb: number;
  /** Mean of the raw samples in the first / last quarter after warm-up (information, not judged). */
  firstQuarterMb: number;
  lastQuarterMb: number;
  /** Mean post-GC floor in the first / last quarter after warm-up. */
  firstQuarterFloorMb: number;
  lastQuarterFloorMb: number;
  /** Growth of the floors, last quarter over first quarter (judged). */
  growthPct: number;
  /** Least-squares slope of the floors over the second half of the run (judged). */
  slopeMbPerMin: number;
  /** Slope of the raw samples over the second half (the old criterion, for comparison). */
  rawSlopeMbPerMin: number;
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);

/** Least-squares slope, per minute, of points in seconds. */
function slopePerMin(points: { t: number; mb: number }[]): number {
  if (points.length < 2) return 0;
  const mt = mean(points.map((p) => p.t));
  const mm = mean(points.map((p) => p.mb));
  const num = points.reduce((s, p) => s + (p.t - mt) * (p.mb - mm), 0);
  const den = points.reduce((s, p) => s + (p.t - mt) ** 2, 0);
  return den ? (num / den) * 60 : 0;
}

/**
 * Warm-up (JIT, pools, the heap growing to its working size) is the first 10 % of the run, at most
 * 180 s. Windows are 1/20 of the rest, at least 60 s (several GC cycles at soak rates).
 */
export function flatness(points: { t: number; mb: number }[], totalS: number): Flatness {
  const warmupS = Math.min(180, totalS * 0.1);
  const span = totalS - warmupS;
  const windowS = Math.max(60, span / 20);
  const steady = points.filter((p) => p.t >= warmupS);
  const floors: { t: number; mb: number }[] = [];
  for (let from = warmupS; from < totalS; from += windowS) {
    const inside = steady.filter((p) => p.t >= from && p.t < from + windowS);
    // A short last window has seen too few collections to have a floor.
    if (inside.length && Math.min(from + windowS, totalS) - from >= windowS / 2)
      floors.push({ t: from + windowS / 2, mb: Math.min(...inside.map((p) => p.mb)) });
  }
  const quarter = (xs: { t: number; mb: number }[], first: boolean) =>
    mean(xs.filter((p) => (first ? p.t < warmupS + span / 4 : p.t >= totalS - span / 4)).map((p) => p.mb));
  // At least the two nearest floors to each end, so a short run still compares something.
  const firstFloors = floors.filter((p, i) => p.t < warmupS + span / 4 || i < 2).map((p) => p.mb);
  const lastFloors = floors.filter((p, i) => p.t >= totalS - span / 4 || i >= floors.length - 2).map((p) => p.mb);
  const firstFloor = mean(firstFloors);
  const lastFloor = mean(lastFloors);
  return {
    warmupS: round(warmupS, 0),
    windowS: round(windowS, 0),
    startMb: round(points[0]?.mb ?? NaN, 1),
    endMb: round(points.at(-1)?.mb ?? NaN, 1),
    peakMb: round(Math.max(...points.map((p) => p.mb)), 1),
    firstQuarterMb: round(quarter(steady, true), 1),
    lastQuarterMb: round(quarter(steady, false), 1),
    firstQuarterFloorMb: round(firstFloor, 1),
    lastQuarterFloorMb: round(lastFloor, 1),
    growthPct: round(((lastFloor - firstFloor) / firstFloor) * 100, 1),
    slopeMbPerMin: round(slopePerMin(floors.filter((p) => p.t >= totalS / 2)), 2),
    rawSlopeMbPerMin: round(slopePerMin(points.filter((p) => p.t >= totalS / 2)), 2),
  };
}

export interface FlatnessLimits {
  maxGrowthPct: number;
  maxSlopeMbPerMin: number;
  /** Runs shorter than this are judged on growth only: too few floors for a slope. */
  minSlopeRunS: number;
}

export const DEFAULT_LIMITS: FlatnessLimits = { maxGrowthPct: 15, maxSlopeMbPerMin: 1, minSlopeRunS: 300 };

export function isFlat(f: Flatness, totalS: number, limits: FlatnessLimits = DEFAULT_LIMITS): boolean {
  return f.growthPct <= limits.maxGrowthPct && (totalS < limits.minSlopeRunS || f.slopeMbPerMin <= limits.maxSlopeMbPerMin);
}
