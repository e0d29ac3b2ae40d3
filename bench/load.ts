// A closed-loop HTTP/1.1 load generator on raw sockets: each connection sends one request, waits for
// the whole response, records the latency, sends the next. Lean on purpose: client and servers share
// the machine's two cores, so every cycle the client spends is taken from the servers.

import { connect, type Socket } from 'node:net';

export interface LoadTarget {
  host: string;
  port: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  non2xx: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
}

/** makeRequest(i) returns the raw bytes of request number i for a connection. */
export async function runLoad(opts: {
  targets: LoadTarget[];
  connections: number;
  durationMs: number;
  /** The bytes of request number i on a connection; null closes that connection. */
  makeRequest: (conn: number, i: number, target: LoadTarget) => Buffer | null;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const end = performance.now() + opts.durationMs;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: opts.connections }, (_, c) => {
      const target = opts.targets[c % opts.targets.length] as LoadTarget;
      return new Promise<void>((resolve) => {
        let sock: Socket;
        let i = 0;
        let buf: Buffer = Buffer.alloc(0);
        let sentAt = 0;
        const send = (): void => {
          if (performance.now() >= end) {
            sock.end();
            resolve();
            return;
          }
          const req = opts.makeRequest(c, i++, target);
          if (!req) {
            sock.end();
            resolve();
            return;
          }
          sentAt = performance.now();
          sock.write(req);
        };
        const open = (): void => {
          sock = connect(target.port, target.host, send);
          sock.setNoDelay(true);
          sock.on('data', (chunk: Buffer) => {
            buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
            for (;;) {
              const headEnd = buf.indexOf('\r\n\r\n');
              if (headEnd < 0) return;
              const head = buf.subarray(0, headEnd).toString('latin1');
              const m = /content-length:\s*(\d+)/i.exec(head);
              const len = m ? Number(m[1]) : 0;
              if (buf.length < headEnd + 4 + len) return;
              const status = Number(head.slice(9, 12));
              buf = buf.subarray(headEnd + 4 + len);
              latencies.push(performance.now() - sentAt);
              if (status < 200 || status >= 300) non2xx++;
              send();
            }
          });
          sock.on('error', () => {
            errors++;
            buf = Buffer.alloc(0);
            if (performance.now() < end) setTimeout(open, 50);
            else resolve();
          });
        };
        open();
      });
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return {
    requests: latencies.length,
    errors,
    non2xx,
    seconds,
    rps: latencies.length / seconds,
    p50: pct(50),
    p99: pct(99),
  };
}

export function httpRequest(method: string, host: string, path: string, body?: Buffer): Buffer {
  const head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n${body ? `Content-Length: ${body.length}\r\n` : ''}\r\n`;
  return body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
}
