// DNS test helpers: raw queries built by hand (so tests control every byte), sent over real UDP or
// TCP, and replies decoded with dns2's parser, an implementation independent of ours.

import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { Packet } from 'dns2';

export const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const;

export interface QueryOpts {
  id?: number;
  /** EDNS0 UDP buffer size; undefined: no OPT record. */
  edns?: number;
  rd?: boolean;
  qclass?: number;
}

/** A query message for `name` and `type`, as a stub resolver sends it. */
export function buildQuery(name: string, type: number, o: QueryOpts = {}): Buffer {
  const labels = name
    .replace(/\.$/, '')
    .split('.')
    .filter((l) => l !== '');
  const parts: Buffer[] = [];
  const h = Buffer.alloc(12);
  h.writeUInt16BE(o.id ?? 0x1234, 0);
  h[2] = o.rd === false ? 0 : 1;
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(o.edns !== undefined ? 1 : 0, 10);
  parts.push(h);
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(o.qclass ?? 1, 3);
  parts.push(tail);
  if (o.edns !== undefined) {
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(o.edns, 3);
    parts.push(opt);
  }
  return Buffer.concat(parts);
}

export type Reply = Packet;

export function decode(b: Buffer): Reply {
  const p = Packet.parse(b);
  if (p.errors.length > 0) throw new Error(`undecodable reply: ${p.errors.map((e) => e.message).join('; ')}`);
  return p;
}

/** One UDP exchange; resolves with the raw reply (rejects after `timeoutMs`). */
export function udpRaw(port: number, msg: Buffer, timeoutMs = 3000, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('udp query timed out'));
    }, timeoutMs);
    s.on('message', (b) => {
      clearTimeout(t);
      s.close();
      resolve(b);
    });
    s.send(msg, port, host);
  });
}

/** Sends and waits `ms` for anything: null when nothing came back. */
export function udpMaybe(port: number, msg: Buffer, ms = 300): Promise<Buffer | null> {
  return udpRaw(port, msg, ms).catch(() => null);
}

export function tcpRaw(port: number, msg: Buffer, timeoutMs = 3000, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host });
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('tcp query timed out'));
    }, timeoutMs);
    s.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    s.on('connect', () => {
      const f = Buffer.alloc(2);
      f.writeUInt16BE(msg.length, 0);
      s.write(Buffer.concat([f, msg]));
    });
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(t);
        s.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
  });
}

export async function udp(port: number, name: string, type: number, o: QueryOpts = {}): Promise<Reply> {
  return decode(await udpRaw(port, buildQuery(name, type, o)));
}

export async function tcp(port: number, name: string, type: number, o: QueryOpts = {}): Promise<Reply> {
  return decode(await tcpRaw(port, buildQuery(name, type, o)));
}

/** The addresses of a reply's A/AAAA answers, sorted. */
export function addresses(r: Reply): string[] {
  return r.answers
    .filter((a) => a.type === T.A || a.type === T.AAAA)
    .map((a) => (a as unknown as { address: string }).address)
    .sort();
}

export interface SrvRecord {
  name: string;
  ttl: number;
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export function srvs(r: Reply): SrvRecord[] {
  return r.answers.filter((a) => a.type === T.SRV) as unknown as SrvRecord[];
}
