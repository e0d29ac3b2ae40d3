// The server RPC port's limits through real sockets on loopback: a TCP connection that never
// completes the WebSocket upgrade and its first frame is closed after the handshake timeout, a peer
// that does stays; connections beyond the per-address cap are closed at once while another address
// (127.0.0.2) still gets in; an oversized frame closes that connection only. Outcomes only.

import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { silentLogger } from '../../src/core/logger.js';
import { encodeFrame, type PeerInfo } from '../../src/rpc/codec.js';
import { RpcNetwork, type RpcNetworkOptions } from '../../src/rpc/network.js';

const started: RpcNetwork[] = [];
const sockets: (net.Socket | WebSocket)[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    if (s instanceof WebSocket) s.terminate();
    else s.destroy();
  }
  for (const n of started.splice(0)) await n.close();
});

const peer = (name: string): PeerInfo => ({ id: name, name, addr: '', dc: 'dc1', server: false, expect: 0 });

function network(name: string, o: Partial<RpcNetworkOptions> = {}): RpcNetwork {
  const n = new RpcNetwork({
    self: () => peer(name),
    logger: silentLogger(),
    handlers: { request: (method) => Promise.resolve(`${name}:${method}`), raft: () => undefined },
    ...o,
  });
  started.push(n);
  return n;
}

/** Resolves true once the socket is closed by the other side, false if 15 s pass. */
function closes(s: net.Socket | WebSocket): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), 15_000);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

function tcp(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.once('error', reject);
    sockets.push(s);
  });
}

function wsOpen(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    sockets.push(ws);
  });
}

describe('RPC port limits', () => {
  it('closes a silent TCP connection after the handshake timeout; a peer that says hello stays', async () => {
    const server = network('server', { handshakeTimeoutMs: 1000 });
    const port = await server.listen('127.0.0.1', 0);
    // Watched from the start: on a loaded machine either may close before the next line runs.
    const silent = closes(await tcp(port));
    // Upgraded (unless the machine is slower than the deadline), but never a frame: closed too.
    const muteWs = new WebSocket(`ws://127.0.0.1:${port}/rpc`, { perMessageDeflate: false });
    sockets.push(muteWs);
    const mute = closes(muteWs);
    const client = network('client');
    const conn = await client.connect(`127.0.0.1:${port}`);
    expect(await silent).toBe(true);
    expect(await mute).toBe(true);
    // Well past the timeout, the real peer's connection is open and answers.
    await new Promise((r) => setTimeout(r, 1500));
    expect(conn.isOpen).toBe(true);
    expect(await client.call(`127.0.0.1:${port}`, 'Status.Ping', {})).toBe('server:Status.Ping');
  });

  it('closes connections over the per-address cap at once, while another address gets in', async () => {
    const server = network('server', { maxConnsPerClient: 3, handshakeTimeoutMs: 60_000 });
    const port = await server.listen('127.0.0.1', 0);
    for (let i = 0; i < 3; i++) await tcp(port);
    // Slots are counted in accept order: the fourth is over the cap.
    const fourth = closes(await tcp(port));
    expect(await fourth).toBe(true);
    const other = await new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc`, { localAddress: '127.0.0.2' });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      sockets.push(ws);
    });
    expect(other.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a connection that sends a frame over the limit, and only that one', async () => {
    const server = network('server', { maxFrameBytes: 4096 });
    const port = await server.listen('127.0.0.1', 0);
    const client = network('client', { maxFrameBytes: 4096 });
    await client.connect(`127.0.0.1:${port}`);
    const big = await wsOpen(port);
    big.send(encodeFrame({ t: 'hello', peer: peer('big') }));
    const code = new Promise<number>((resolve) => big.once('close', (c) => resolve(c)));
    big.send(Buffer.alloc(8192, 1));
    expect(await code).toBe(1009);
    expect(await client.call(`127.0.0.1:${port}`, 'Status.Ping', {})).toBe('server:Status.Ping');
  });
});
