import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ConsulError, ErrorCode } from '../../src/core/errors.js';
import {
  decodeBase64,
  generateKey,
  Keyring,
  keyringPath,
  loadKeyring,
  readKeyringFile,
} from '../../src/gossip/keyring.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'consulate-keyring-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A pino logger that keeps what it logs. */
function captureLogger(): { logger: pino.Logger; lines: () => Array<{ level: number; msg: string }> } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = pino({ level: 'info' }, stream);
  return { logger, lines: () => out.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

function badRequestWith(fn: () => unknown, text: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConsulError);
  expect((caught as ConsulError).code).toBe(ErrorCode.BadRequest);
  expect((caught as ConsulError).message).toMatch(text);
}

const k16 = (): string => randomBytes(16).toString('base64');

describe('generateKey', () => {
  it('makes 32 random bytes in standard base64, like consul keygen', () => {
    const a = generateKey();
    expect(a).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a, 'base64').length).toBe(32);
    expect(generateKey()).not.toBe(a);
  });
});

describe('decodeBase64', () => {
  it('accepts standard padded base64 and refuses what Node would silently skip', () => {
    expect(Buffer.from(decodeBase64('aGk=')).toString()).toBe('hi');
    badRequestWith(() => decodeBase64('a*Gk='), 'illegal base64 data at input byte 1');
    badRequestWith(() => decodeBase64('aGk'), 'illegal base64 data at input byte 0');
    badRequestWith(() => decodeBase64('aG=k'), 'illegal base64 data at input byte 2');
    badRequestWith(() => decodeBase64('a==='), 'illegal base64 data at input byte 1');
  });
});

describe('Keyring', () => {
  it('keeps the primary first and lists keys in base64', () => {
    const [a, b] = [generateKey(), k16()];
    const ring = new Keyring([a, b, a]);
    expect(ring.list()).toEqual([a, b]);
    expect(ring.primary()).toBe(a);
    expect(ring.keys().map((k) => k.length)).toEqual([32, 16]);
  });

  it('refuses keys of the wrong length or invalid base64', () => {
    badRequestWith(
      () => new Keyring([randomBytes(20).toString('base64')]),
      'key size must be 16, 24 or 32 bytes',
    );
    badRequestWith(() => new Keyring(['not base64!']), /illegal base64 data at input byte 3/);
    badRequestWith(() => new Keyring([]), 'Empty primary key not allowed');
    const ring = new Keyring([k16()]);
    badRequestWith(
      () => ring.install(randomBytes(8).toString('base64')),
      'key size must be 16, 24 or 32 bytes',
    );
    badRequestWith(() => ring.install('%%%%'), 'illegal base64 data at input byte 0');
    expect(ring.list()).toHaveLength(1);
  });

  it('installs a key once, as a secondary', () => {
    const [a, b] = [k16(), generateKey()];
    const ring = new Keyring([a]);
    ring.install(b);
    ring.install(b);
    expect(ring.list()).toEqual([a, b]);
    expect(ring.primary()).toBe(a);
  });

  it('uses only an installed key', () => {
    const [a, b, c] = [k16(), k16(), k16()];
    const ring = new Keyring([a, b]);
    badRequestWith(() => ring.use(c), 'Requested key is not in the keyring');
    ring.use(b);
    expect(ring.list()).toEqual([b, a]);
    ring.use(b);
    expect(ring.list()).toEqual([b, a]);
  });

  it('refuses to remove the primary key; removing a missing key changes nothing', () => {
    const [a, b, c] = [k16(), k16(), k16()];
    const ring = new Keyring([a, b]);
    badRequestWith(() => ring.remove(a), 'Removing the primary key is not allowed');
    ring.remove(c);
    expect(ring.list()).toEqual([a, b]);
    ring.remove(b);
    expect(ring.list()).toEqual([a]);
  });

  it('replaces its key array on change so a holder of the old one is not surprised', () => {
    const ring = new Keyring([k16()]);
    const before = ring.keys();
    ring.install(k16());
    expect(before).toHaveLength(1);
    expect(ring.keys()).toHaveLength(2);
  });
});

describe('keyring file', () => {
  it('persists every change atomically with mode 0600, primary first', () => {
    const file = keyringPath(tmp());
    const [a, b] = [k16(), generateKey()];
    const ring = new Keyring([a]);
    ring.persistTo(file);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([a]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    ring.install(b);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([a, b]);
    ring.use(b);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([b, a]);
    ring.remove(a);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([b]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // No temporary file left behind.
    expect(readdirSync(dirname(file))).toEqual(['local.keyring']);
  });

  it('reloads what it wrote', () => {
    const file = keyringPath(tmp());
    const [a, b] = [k16(), generateKey()];
    const ring = new Keyring([a]);
    ring.persistTo(file);
    ring.install(b);
    ring.use(b);
    const again = loadKeyring({ file, encrypt: null });
    expect(again?.list()).toEqual([b, a]);
    // And it keeps persisting to the same file.
    again?.remove(a);
    expect(readKeyringFile(file).list()).toEqual([b]);
  });

  it('initialises the file from -encrypt when there is none', () => {
    const file = keyringPath(tmp());
    const a = generateKey();
    const ring = loadKeyring({ file, encrypt: a });
    expect(ring?.list()).toEqual([a]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([a]);
  });

  it('prefers an existing file over -encrypt, with a warning', () => {
    const file = keyringPath(tmp());
    const [a, b] = [generateKey(), generateKey()];
    new Keyring([a]).persistTo(file);
    const { logger, lines } = captureLogger();
    const ring = loadKeyring({ file, encrypt: b, logger });
    expect(ring?.list()).toEqual([a]);
    expect(lines().some((l) => l.level === 40 && l.msg.includes('keyring exists but -encrypt given'))).toBe(
      true,
    );
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual([a]);
  });

  it('loads an existing file without -encrypt; no file and no -encrypt means no encryption', () => {
    const dir = tmp();
    const file = keyringPath(dir);
    expect(loadKeyring({ file, encrypt: null })).toBeNull();
    expect(existsSync(file)).toBe(false);
    const a = k16();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify([a]));
    expect(loadKeyring({ file, encrypt: null })?.primary()).toBe(a);
  });

  it('keeps an -encrypt keyring in memory when there is no data dir', () => {
    const a = k16();
    expect(loadKeyring({ file: null, encrypt: a })?.list()).toEqual([a]);
  });

  it('refuses a broken file or an invalid -encrypt as config errors', () => {
    const file = keyringPath(tmp());
    mkdirSync(dirname(file), { recursive: true });
    for (const content of ['not json', '{"a":1}', '[]', '[1]', '["short"]']) {
      writeFileSync(file, content);
      let caught: unknown;
      try {
        loadKeyring({ file, encrypt: null });
      } catch (err) {
        caught = err;
      }
      expect((caught as ConsulError).code, content).toBe(ErrorCode.Config);
      expect((caught as ConsulError).message).toContain('Failed to load keyring file');
    }
    expect(() => loadKeyring({ file: null, encrypt: 'abc' })).toThrow(/encrypt has invalid key/);
  });

  it('reports a write failure as an error, not a crash', () => {
    const dir = tmp();
    // The keyring's directory is a file: the write must fail.
    writeFileSync(join(dir, 'serf'), 'in the way');
    const ring = new Keyring([k16()]);
    expect(() => ring.persistTo(keyringPath(dir))).toThrow(/Failed to write keyring file/);
  });
});
