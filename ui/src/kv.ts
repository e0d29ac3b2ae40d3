// Key/value helpers: folders from a ?keys&separator=/ listing, and values between the API's base64
// and the editor's text.

/** One row of a folder: a sub-folder (its full prefix, ending in '/') or a key. */
export interface KvItem {
  path: string;
  /** The last segment, for display ('web/' or 'timeout'). */
  name: string;
  folder: boolean;
}

/** The folder's rows, folders first, from the keys the API listed under `prefix`. */
export function kvItems(prefix: string, keys: readonly string[]): KvItem[] {
  const items = keys
    // The folder's own marker key (prefix itself) is the folder, not a row in it.
    .filter((k) => k !== prefix && k.startsWith(prefix))
    .map((k) => ({ path: k, name: k.slice(prefix.length), folder: k.endsWith('/') }));
  return items.sort((a, b) =>
    a.folder !== b.folder ? (a.folder ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
}

/** The folders above a prefix, for breadcrumbs: 'a/b/' -> ['a/', 'a/b/']. */
export function parentPrefixes(prefix: string): string[] {
  const parts = prefix.split('/').slice(0, -1);
  return parts.map((_, i) => `${parts.slice(0, i + 1).join('/')}/`);
}

/** The folder a key lives in ('a/b/c' -> 'a/b/', 'c' -> ''). */
export function folderOf(key: string): string {
  const i = key.lastIndexOf('/', key.endsWith('/') ? key.length - 2 : key.length);
  return i < 0 ? '' : key.slice(0, i + 1);
}

export type Decoded = { text: string; binary: false } | { text: string; binary: true };

/** The API's base64 value as text; a value that is not UTF-8 stays base64 and says so. */
export function decodeValue(b64: string | null): Decoded {
  if (b64 === null || b64 === '') return { text: '', binary: false };
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), binary: false };
  } catch {
    return { text: b64, binary: true };
  }
}

/** null when `text` is valid JSON, else the parser's complaint. */
export function jsonError(text: string): string | null {
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
