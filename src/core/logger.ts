// One root logger (pino); components take children with {component}. Human-readable lines by
// default in Consul's layout, JSON lines with -log-json. Secrets never reach a log line: the
// redaction paths cover tokens and keys wherever they appear in a logged object.

import { Writable } from 'node:stream';
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

/** Formats pino's JSON lines as `2026-01-01T00:00:00.000Z [INFO]  agent.raft: message: key=value`. */
function humanStream(out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          const { time, level, msg, component, err, pid: _p, hostname: _h, node: _n, dc: _d, ...rest } = o;
          const lvl = LEVEL_NAMES[level as number] ?? 'INFO';
          const fields = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`)
            .join(' ');
          // Call sites pass either an Error (pino serialises it) or its message as a string.
          const errText =
            err && typeof err === 'object'
              ? ` error="${String((err as { message?: unknown }).message)}"`
              : typeof err === 'string'
                ? ` error=${JSON.stringify(err)}`
                : '';
          out.write(
            `${new Date(time as number).toISOString()} [${lvl}]${' '.repeat(6 - lvl.length)}${typeof component === 'string' ? component : 'agent'}: ${typeof msg === 'string' ? msg : ''}${fields ? `: ${fields}` : ''}${errText}\n`,
          );
        } catch {
          out.write(`${line}\n`);
        }
      }
      cb();
    },
  });
}

export function createLogger(opts: {
  level: string;
  json: boolean;
  bindings?: Record<string, string>;
  stream?: NodeJS.WritableStream;
}): Logger {
  const dest = opts.stream ?? process.stdout;
  return pino(
    { level: opts.level, base: opts.bindings ?? {}, redact: { paths: REDACT, censor: '[Redacted]' } },
    opts.json ? (dest as DestinationStream) : humanStream(dest),
  );
}

/** A logger that discards everything (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
