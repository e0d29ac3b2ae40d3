// One root logger (pino); components take children with {component}. Human-readable lines by
// default in Consul's layout, JSON lines with -log-json. Secrets never reach a log line: the
// redaction paths cover tokens and keys wherever they appear in a logged object, and redaction
// happens once, before the fan-out (LogHub) hands the line to stdout, the -log-file and monitors.

import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

// ACL secrets go by several names: a request's `token`, a token's SecretID, the HTTP headers that
// carry them, and the acl.tokens block of a config dump. Each is redacted at the top level and one
// or two levels down (pino paths have no recursive wildcard).
const SECRET_FIELDS = ['token', 'Token', 'secret', 'secretId', 'SecretID', 'initialManagement', 'encrypt'];
const REDACT = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  'headers["x-consul-token"]',
  'headers.authorization',
  '*.headers["x-consul-token"]',
  '*.headers.authorization',
  'tokens.*',
  '*.tokens.*',
  '*.*.tokens.*',
];

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'ERROR',
};

/** A log line in Consul's layout: `2026-01-01T00:00:00.000Z [INFO]  agent.raft: message: key=value`. */
export function humanLine(o: Record<string, unknown>): string {
  const { time, level, msg, component, err, pid: _p, hostname: _h, node: _n, dc: _d, ...rest } = o;
  const lvl = LEVEL_NAMES[level as number] ?? 'INFO';
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
  // Call sites pass either an Error (pino serialises it) or its message as a string.
  const errText =
    err && typeof err === 'object'
      ? ` error="${String((err as { message?: unknown }).message)}"`
      : typeof err === 'string'
        ? ` error=${JSON.stringify(err)}`
        : '';
  return `${new Date(time as number).toISOString()} [${lvl}]${' '.repeat(6 - lvl.length)}${typeof component === 'string' ? component : 'agent'}: ${typeof msg === 'string' ? msg : ''}${fields ? `: ${fields}` : ''}${errText}\n`;
}

/** pino's numeric level of each of our level names. */
export const LEVEL_VALUES: Record<LogLevelName, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
};
export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** Where formatted lines go: each output has its own level and format. */
export interface LogOutput {
  level: LogLevelName;
  json: boolean;
  write(line: string): void;
}

/**
 * The agent's log fan-out: one pino logger (so the redaction applies to every output alike) whose
 * lines go to the agent's own outputs (stdout, -log-file) at the agent's level, and to any
 * subscriber (GET /v1/agent/monitor) at the subscriber's own level. pino's level follows the lowest
 * level anyone listens at, so debug lines cost nothing until someone asks for them; children see a
 * change of the root's level (they inherit it), so a reload's new level applies everywhere at once.
 */
export class LogHub {
  readonly logger: Logger;
  private agentLevel: LogLevelName;
  private readonly subscribers = new Set<LogOutput>();

  constructor(
    level: LogLevelName,
    private readonly outputs: { json: boolean; write(line: string): void }[],
    bindings: Record<string, string> = {},
  ) {
    this.agentLevel = level;
    const dest: DestinationStream = { write: (line: string) => this.dispatch(line) };
    this.logger = pino({ level, base: bindings, redact: { paths: REDACT, censor: '[Redacted]' } }, dest);
  }

  get level(): LogLevelName {
    return this.agentLevel;
  }

  /** The agent's own level (a reload changes it); subscribers keep theirs. */
  setLevel(level: LogLevelName): void {
    this.agentLevel = level;
    this.retune();
  }

  /** Lines at `out.level` and above go to `out` until the returned function is called. */
  subscribe(out: LogOutput): () => void {
    this.subscribers.add(out);
    this.retune();
    return () => {
      this.subscribers.delete(out);
      this.retune();
    };
  }

  private retune(): void {
    let min = LEVEL_VALUES[this.agentLevel];
    for (const s of this.subscribers) min = Math.min(min, LEVEL_VALUES[s.level]);
    const name = (Object.keys(LEVEL_VALUES) as LogLevelName[]).find((k) => LEVEL_VALUES[k] === min);
    if (name && this.logger.level !== name) this.logger.level = name;
  }

  private dispatch(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (!line) continue;
      // pino writes the level first; the whole line is parsed only when someone wants it readable.
      const level = Number(/^\{"level":(\d+)/.exec(line)?.[1] ?? 30);
      let human: string | null = null;
      const render = (json: boolean): string => {
        if (json) return `${line}\n`;
        if (human === null) {
          try {
            human = humanLine(JSON.parse(line) as Record<string, unknown>);
          } catch {
            human = `${line}\n`;
          }
        }
        return human;
      };
      if (level >= LEVEL_VALUES[this.agentLevel]) for (const o of this.outputs) o.write(render(o.json));
      for (const s of this.subscribers) if (level >= LEVEL_VALUES[s.level]) s.write(render(s.json));
    }
  }
}

/** An output writing to a Node stream (stdout); a failing write (a closed pipe) is not the agent's concern. */
export function streamOutput(
  out: NodeJS.WritableStream,
  json: boolean,
): { json: boolean; write(line: string): void } {
  return { json, write: (line) => void out.write(line) };
}

export function createLogger(opts: {
  level: string;
  json: boolean;
  bindings?: Record<string, string>;
  stream?: NodeJS.WritableStream;
}): Logger {
  const dest = opts.stream ?? process.stdout;
  return new LogHub(opts.level as LogLevelName, [streamOutput(dest, opts.json)], opts.bindings).logger;
}

/** A logger that discards everything (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
