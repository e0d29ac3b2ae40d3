// Reading deploy/systemd/consulate.service for the tests (test/unit/deploy-manifests.test.ts,
// test/unit/systemd-unit.test.ts): its settings, its ExecStart as an argv, and the example config
// in its comments.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const UNIT_PATH = join(import.meta.dirname, '../../deploy/systemd/consulate.service');

export function unitText(): string {
  return readFileSync(UNIT_PATH, 'utf8');
}

/** Every `Key=value` of a section, in order (a key may repeat, as ExecStart may). */
export function settings(text: string, section: string): [string, string][] {
  const out: [string, string][] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1] as string;
    else if (current === section) {
      const eq = line.indexOf('=');
      out.push([line.slice(0, eq), line.slice(eq + 1)]);
    }
  }
  return out;
}

/**
 * ExecStart as the argv systemd would run. Our line uses none of systemd's quoting, `$VAR` or `%`
 * specifiers or prefixes (`-`, `@`, `+`…); it is refused if it starts to, rather than half-parsed.
 */
export function execStartArgv(text: string): string[] {
  const lines = settings(text, 'Service').filter(([k]) => k === 'ExecStart');
  if (lines.length !== 1) throw new Error(`expected one ExecStart, found ${lines.length}`);
  const line = (lines[0] as [string, string])[1];
  if (/["'\\$%]|^[-@:+!]/.test(line)) throw new Error(`ExecStart needs a fuller parser: ${line}`);
  return line.split(/\s+/).filter((x) => x !== '');
}

/** The example server.json of the comments: the indented JSON line after the one naming server.json. */
export function exampleServerConfig(text: string): Record<string, unknown> {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith('#') && l.includes('server.json'));
  const json = lines.slice(at + 1).find((l) => /^#\s+\{/.test(l));
  if (at < 0 || !json) throw new Error('no example server.json in the unit comments');
  return JSON.parse(json.replace(/^#\s+/, '')) as Record<string, unknown>;
}
