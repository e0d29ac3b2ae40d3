// One RPC connection, symmetric: either side sends requests, answers requests and passes Raft
// messages. Requests carry ids; a cancelled request sends a cancel frame so the other side stops
// (a blocking query on a leader ends when the HTTP client that asked for it goes away).

import type WebSocket from 'ws';
import { ConsulError, ErrorCode, toConsulError } from '../core/errors.js';
import type { Message } from '../raft/messages.js';
import { decodeFrame, encodeFrame, errorFrame, type Frame, type PeerInfo } from './codec.js';

export interface ConnHandlers {
  request(method: string, args: unknown, signal: AbortSignal, conn: RpcConn): Promise<unknown>;
  raft(m: Message, conn: RpcConn): void;
  hello?(peer: PeerInfo, conn: RpcConn): void;
}

/** Raft messages are dropped (Raft retries) rather than queued without bound behind a slow peer. */
const MAX_BUFFERED_RAFT = 64 << 20;

export class RpcConn {
  peer: PeerInfo | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly serving = new Map<number, AbortController>();
  private closed = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly ws: WebSocket,
    private readonly handlers: ConnHandlers,
  ) {
    ws.on('message', (data: Buffer) => this.onMessage(data));
    ws.on('close', () => this.onClose());
    ws.on('error', () => this.onClose());
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === 1;
  }

  onClosed(fn: () => void): void {
    if (this.closed) fn();
    else this.closeListeners.push(fn);
  }

  hello(peer: PeerInfo): void {
    this.write({ t: 'hello', peer });
  }

  sendRaft(m: Message): boolean {
    if (!this.isOpen || this.ws.bufferedAmount > MAX_BUFFERED_RAFT) return false;
    this.write({ t: 'raft', m });
    return true;
  }

  call(
    method: string,
    args: unknown,
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<unknown> {
    if (!this.isOpen) return Promise.reject(new ConsulError(ErrorCode.Unavailable, 'rpc: connection closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        this.pending.delete(id);
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        if (this.isOpen) this.write({ t: 'cancel', id });
        reject(toConsulError(opts.signal?.reason ?? new Error('aborted')));
      };
      if (opts.signal?.aborted) {
        onAbort();
        return;
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          if (this.isOpen) this.write({ t: 'cancel', id });
          reject(new ConsulError(ErrorCode.Timeout, `rpc: ${method} timed out after ${opts.timeoutMs}ms`));
        }, opts.timeoutMs);
      }
      this.pending.set(id, {
        resolve: (v) => {
          cleanup();
          resolve(v);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      });
      this.write({ t: 'req', id, method, args });
    });
  }

  close(): void {
    if (!this.closed) this.ws.close();
    this.onClose();
  }

  private write(f: Frame): void {
    this.ws.send(encodeFrame(f));
  }

  private onMessage(data: Buffer): void {
    let f: Frame;
    try {
      f = decodeFrame(data);
    } catch {
      // A peer that speaks garbage is not a peer: drop the connection, keep the agent.
      this.close();
      return;
    }
    switch (f.t) {
      case 'hello':
        this.peer = f.peer;
        try {
          this.handlers.hello?.(f.peer, this);
        } catch {
          // Learning about a peer is best effort; the connection stays useful without it.
        }
        return;
      case 'raft':
        try {
          this.handlers.raft(f.m, this);
        } catch {
          // A message the core cannot take is dropped like a lost packet; Raft recovers.
        }
        return;
      case 'req':
        this.serve(f.id, f.method, f.args);
        return;
      case 'res': {
        const p = this.pending.get(f.id);
        if (!p) return;
        if (f.ok) p.resolve(f.v);
        else p.reject(new ConsulError(f.code, f.msg));
        return;
      }
      case 'cancel':
        this.serving.get(f.id)?.abort(new ConsulError(ErrorCode.Timeout, 'cancelled by caller'));
        return;
    }
  }

  private serve(id: number, method: string, args: unknown): void {
    const ac = new AbortController();
    this.serving.set(id, ac);
    let p: Promise<unknown>;
    try {
      p = this.handlers.request(method, args, ac.signal, this);
    } catch (err) {
      // A handler that throws at once still answers with an error frame.
      p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    p.then(
      (v) => {
        this.serving.delete(id);
        if (this.isOpen && !ac.signal.aborted) this.write({ t: 'res', id, ok: true, v });
      },
      (err: unknown) => {
        this.serving.delete(id);
        if (this.isOpen && !ac.signal.aborted) this.write(errorFrame(id, toConsulError(err)));
      },
    );
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new ConsulError(ErrorCode.Unavailable, 'rpc: connection closed');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const ac of this.serving.values()) ac.abort(err);
    this.serving.clear();
    for (const fn of this.closeListeners.splice(0)) fn();
  }
}
