// Consul's JSON form of /v1/agent/metrics (go-metrics' in-memory sink, DisplayMetrics): gauges as
// {Name, Value, Labels}; counters and timers ("samples") as aggregates {Name, Count, Rate, Sum, Min,
// Max, Mean, Stddev, Labels}. Consul aggregates over its current 10 s interval; here the aggregates
// run from the agent's start, and Rate is Sum per second over that time (Consul: per second of the
// interval). Pure: no metrics library, no clock.

export type Labels = Record<string, string>;

export interface GaugeJson {
  Name: string;
  Value: number;
  Labels: Labels;
}

export interface SampleJson {
  Name: string;
  Count: number;
  Rate: number;
  Sum: number;
  Min: number;
  Max: number;
  Mean: number;
  Stddev: number;
  Labels: Labels;
}

export interface MetricsJson {
  Timestamp: string;
  Gauges: GaugeJson[];
  Points: never[];
  Counters: SampleJson[];
  Samples: SampleJson[];
}

/** A running aggregate of observed values (one per metric and label set). */
export interface Agg {
  labels: Labels;
  count: number;
  sum: number;
  sumSq: number;
  min: number;
  max: number;
}

export function newAgg(labels: Labels): Agg {
  return { labels, count: 0, sum: 0, sumSq: 0, min: Infinity, max: -Infinity };
}

export function aggAdd(a: Agg, v: number): void {
  a.count++;
  a.sum += v;
  a.sumSq += v * v;
  if (v < a.min) a.min = v;
  if (v > a.max) a.max = v;
}

/** An aggregate as Consul shows it; `elapsedSec` is what Rate divides by. */
export function sampleJson(name: string, a: Agg, elapsedSec: number): SampleJson {
  const n = a.count;
  const mean = n > 0 ? a.sum / n : 0;
  // go-metrics' sample standard deviation (n - 1), 0 below two values.
  const variance = n > 1 ? Math.max(0, (a.sumSq - (a.sum * a.sum) / n) / (n - 1)) : 0;
  return {
    Name: name,
    Count: n,
    Rate: elapsedSec > 0 ? a.sum / elapsedSec : 0,
    Sum: a.sum,
    Min: n > 0 ? a.min : 0,
    Max: n > 0 ? a.max : 0,
    Mean: mean,
    Stddev: Math.sqrt(variance),
    Labels: { ...a.labels },
  };
}

/** A counter known only by its running total: counted as `total` increments of 1. */
export function totalJson(name: string, labels: Labels, total: number, elapsedSec: number): SampleJson {
  const a = newAgg(labels);
  if (total > 0) {
    a.count = total;
    a.sum = total;
    a.sumSq = total;
    a.min = 1;
    a.max = 1;
  }
  return sampleJson(name, a, elapsedSec);
}

/**
 * With disable_hostname false (Consul's default) go-metrics puts the host name after the prefix of
 * every gauge: "consul.<host>.runtime.alloc_bytes". Dots in the host name would split it, so they
 * become "_" as go-metrics does.
 */
export function gaugeName(prefix: string, name: string, host: string | null): string {
  if (host === null) return name;
  return `${prefix}.${host.replace(/\./g, '_')}${name.slice(prefix.length)}`;
}

/** Go's time.Time String() in UTC, which Consul's Timestamp is: "2006-01-02 15:04:05 +0000 UTC". */
export function consulTimestamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`
  );
}

/** Consul lists each section sorted by name (then by labels). */
export function byName<T extends { Name: string; Labels: Labels }>(rows: T[]): T[] {
  const key = (r: T): string => `${r.Name}\u0000${JSON.stringify(r.Labels)}`;
  return rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
