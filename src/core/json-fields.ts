// Reading JSON request bodies the way Consul's Go decoding does: keys match case-insensitively and
// with or without underscores (`enable_tag_override` is EnableTagOverride), an absent or null field
// takes its zero value, and a field of the wrong type is a 400 that names it. The catalog, service
// definitions and check definitions all read their bodies through this one module; they differ only
// in how their messages start (Consul's agent endpoints say "Request decode failed: ").

import { badRequest } from './errors.js';

export type Obj = Record<string, unknown>;

const absent = (v: unknown): v is null | undefined => v === undefined || v === null;

/** A case- and underscore-insensitive view of a JSON object (absent: an empty one). */
export function view(v: unknown, what: string): Obj {
  if (absent(v)) return {};
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw badRequest(`${what} must be an object`);
  }
  const out: Obj = {};
  for (const [k, val] of Object.entries(v)) out[k.toLowerCase().replace(/_/g, '')] = val;
  return out;
}

export interface FieldReader {
  str: (o: Obj, field: string, what: string) => string;
  int: (o: Obj, field: string, what: string) => number;
  bool: (o: Obj, field: string, what: string, whenAbsent?: boolean) => boolean;
  strList: (v: unknown, what: string) => string[];
  strMap: (v: unknown, what: string) => Record<string, string>;
}

/** Typed field readers whose errors start with `prefix`. */
export function fieldReader(prefix: string): FieldReader {
  const fail = (msg: string): Error => badRequest(`${prefix}${msg}`);
  return {
    str: (o, field, what) => {
      const v = o[field];
      if (absent(v)) return '';
      if (typeof v !== 'string') throw fail(`${what} must be a string`);
      return v;
    },
    int: (o, field, what) => {
      const v = o[field];
      if (absent(v)) return 0;
      if (typeof v !== 'number' || !Number.isInteger(v)) throw fail(`${what} must be an integer`);
      return v;
    },
    bool: (o, field, what, whenAbsent = false) => {
      const v = o[field];
      if (absent(v)) return whenAbsent;
      if (typeof v !== 'boolean') throw fail(`${what} must be a boolean`);
      return v;
    },
    strList: (v, what) => {
      if (absent(v)) return [];
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
        throw fail(`${what} must be a list of strings`);
      }
      return [...v] as string[];
    },
    strMap: (v, what) => {
      if (absent(v)) return {};
      if (typeof v !== 'object' || Array.isArray(v)) throw fail(`${what} must be an object of strings`);
      const out: Record<string, string> = {};
      for (const [k, val] of Object.entries(v)) {
        if (typeof val !== 'string') throw fail(`${what}.${k} must be a string`);
        out[k] = val;
      }
      return out;
    },
  };
}
