// Request bodies read with a size cap: an oversized body is refused with 413 while it streams in,
// never buffered whole.

import { ConsulError, ErrorCode, badRequest } from '../core/errors.js';

export async function readBody(req: Request, limit: number, what = 'Request body'): Promise<Uint8Array> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(what, declared, limit);
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(what, total, limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

function tooLarge(what: string, size: number, limit: number): ConsulError {
  return new ConsulError(ErrorCode.TooLarge, `${what} too large (${size} bytes), max size: ${limit} bytes`);
}

export function readJson(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) throw badRequest('Request decode failed: empty body');
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (err) {
    throw badRequest(`Request decode failed: ${(err as Error).message}`);
  }
}
