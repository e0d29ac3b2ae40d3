// Types for parse-prometheus-text-format (which ships none): prom2json's shape, values as strings.
declare module 'parse-prometheus-text-format' {
  export interface PromSample {
    value: string;
    labels?: Record<string, string>;
  }
  export interface PromSummary {
    quantiles: Record<string, string>;
    count: string;
    sum: string;
    labels?: Record<string, string>;
  }
  export interface PromFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'SUMMARY' | 'HISTOGRAM' | 'UNTYPED';
    metrics: (PromSample | PromSummary)[];
  }
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
