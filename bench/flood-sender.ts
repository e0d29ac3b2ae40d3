// The flood of bench/flood.ts, in a process of its own so that sending it never delays the
// measuring client's event loop: FLOOD_CONNS idle TCP connections from 127.0.0.1 to the HTTP port
// (each one the server closes is opened again after FLOOD_REOPEN_MS, 1 s, so the pressure lasts), and junk UDP
// (random bytes, random sizes up to 1,400) at each UDP port given, FLOOD_UDP_PACKETS per port in
// bursts, again and again until SIGTERM. Prints "ready" once every connection has been tried, and
// one JSON line of counts when stopped.
// Usage: node flood-sender.js HTTP_PORT [UDP_PORT ...]

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';

const [httpArg, ...udpArgs] = process.argv.slice(2);
const HTTP_PORT = Number(httpArg);
const UDP_PORTS = udpArgs.map(Number);
const CONNS = Number(process.env['FLOOD_CONNS'] ?? 1000);
const PACKETS = Number(process.env['FLOOD_UDP_PACKETS'] ?? 50_000);
const REOPEN_MS = Number(process.env['FLOOD_REOPEN_MS'] ?? 1000);

const counts = { opened: 0, closedByServer: 0, refused429: 0, udpSent: 0, udpBursts: 0 };
let stopping = false;
const open = new Set<Socket>();

function idle(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ port: HTTP_PORT, host: '127.0.0.1', localAddress: '127.0.0.1' });
    let first = true;
    const settle = (): void => {
      if (first) {
        first = false;
        resolve();
      }
    };
    s.on('connect', () => {
      counts.opened++;
      open.add(s);
      settle();
    });
    s.on('data', (d: Buffer) => {
      if (d.toString('latin1').startsWith('HTTP/1.1 429')) counts.refused429++;
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      open.delete(s);
      settle();
      if (stopping) return;
      counts.closedByServer++;
      setTimeout(() => void idle(), REOPEN_MS);
    });
  });
}

async function udpBursts(): Promise<void> {
  const sock = createSocket('udp4');
  sock.on('error', () => undefined);
  // A pool of junk, so the sender spends its time sending, not drawing random bytes.
  const junk = Array.from({ length: 256 }, () => randomBytes(1 + Math.floor(Math.random() * 1400)));
  let j = 0;
  while (!stopping) {
    for (const port of UDP_PORTS) {
      for (let i = 0; i < PACKETS && !stopping; i += 500) {
        // 500 in flight, then wait for the kernel to take them: fast, without an unbounded queue.
        await Promise.all(
          Array.from(
            { length: Math.min(500, PACKETS - i) },
            () =>
              new Promise<void>((r) => {
                sock.send(junk[j++ & 255] as Buffer, port, '127.0.0.1', () => r());
              }),
          ),
        );
        counts.udpSent += Math.min(500, PACKETS - i);
        // A send the kernel takes at once calls back on the microtask queue: without a turn of
        // the event loop here, timers (the reconnects) and SIGTERM would never run.
        await new Promise((r) => setImmediate(r));
      }
    }
    counts.udpBursts++;
  }
  sock.close();
}

for (let i = 0; i < CONNS; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, CONNS - i) }, () => idle()));
}
process.stdout.write('ready\n');
const udp = UDP_PORTS.length > 0 ? udpBursts() : Promise.resolve();

process.on('SIGTERM', () => {
  stopping = true;
  void udp.then(() => {
    process.stdout.write(`${JSON.stringify({ ...counts, stillOpen: open.size })}\n`);
    for (const s of open) s.destroy();
    process.exit(0);
  });
});
