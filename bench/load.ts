// A closed-loop HTTP/1.1 load generator on raw sockets: each connection sends one request, waits for
// the whole response, records the latency, sends the next. Lean on purpose: client and servers share
// the machine's two cores, so every cycle the client spends is taken from the servers.
// Connection c talks to targets[c % targets.length]; with `spread`, every connection keeps a socket
// to each target and sends each request to one picked at random (still one request in flight per
// connection), as a proxy that picks a random upstream per request spreads its load.

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
  /** Each request to a random target (every connection holds a socket to each). */
  spread?: boolean;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const end = performance.now() + opts.durationMs;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: opts.connections }, (_, c) => {
      const mine = opts.spread ? opts.targets : [opts.targets[c % opts.targets.length] as LoadTarget];
      return new Promise<void>((resolve) => {
        const socks: Array<Socket | null> = mine.map(() => null);
        const bufs: Buffer[] = mine.map(() => Buffer.alloc(0));
        let i = 0;
        let sentAt = 0;
        let active = -1; // the socket with the request in flight
        let finished = false;
        const finish = (): void => {
          if (finished) return;
          finished = true;
          for (const s of socks) s?.end();
          resolve();
        };
        const write = (k: number, req: Buffer): void => {
          active = k;
          sentAt = performance.now();
          (socks[k] as Socket).write(req);
        };
        const send = (): void => {
          if (finished) return;
          if (performance.now() >= end) return finish();
          const k = mine.length > 1 ? Math.floor(Math.random() * mine.length) : 0;
          const req = opts.makeRequest(c, i++, mine[k] as LoadTarget);
          if (!req) return finish();
          if (socks[k]) write(k, req);
          else open(k, () => write(k, req));
        };
        const open = (k: number, then: () => void): void => {
          const t = mine[k] as LoadTarget;
          active = k;
          const sock = connect(t.port, t.host, then);
          socks[k] = sock;
          sock.setNoDelay(true);
          sock.on('data', (chunk: Buffer) => {
            if (socks[k] !== sock) return;
            let buf = bufs[k] as Buffer;
            buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
            for (;;) {
              const headEnd = buf.indexOf('\r\n\r\n');
              if (headEnd < 0) break;
              const head = buf.subarray(0, headEnd).toString('latin1');
              const m = /content-length:\s*(\d+)/i.exec(head);
              const len = m ? Number(m[1]) : 0;
              if (buf.length < headEnd + 4 + len) break;
              const status = Number(head.slice(9, 12));
              buf = buf.subarray(headEnd + 4 + len);
              bufs[k] = buf;
              latencies.push(performance.now() - sentAt);
              if (status < 200 || status >= 300) non2xx++;
              active = -1;
              send();
              buf = bufs[k] ?? Buffer.alloc(0);
            }
            bufs[k] = buf;
          });
          sock.on('error', () => undefined); // counted at 'close'
          sock.on('close', () => {
            if (socks[k] !== sock) return;
            socks[k] = null;
            bufs[k] = Buffer.alloc(0);
            if (finished || active !== k) return; // an idle socket: reopened when next picked
            errors++;
            active = -1;
            if (performance.now() < end) setTimeout(send, 50);
            else finish();
          });
        };
        send();
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
