// Client-side routes under /ui/. The agent serves index.html for every /ui/ path that is not a
// file, so each of these URLs can be bookmarked or reloaded. parseRoute and routePath are pure
// and inverse of each other; navigate() is the only place that touches history.

import { useEffect, useState } from 'preact/hooks';

export type Section = 'services' | 'nodes' | 'kv' | 'settings';

export type Route =
  | { kind: 'root' }
  | { kind: 'services'; dc: string }
  | { kind: 'service'; dc: string; name: string }
  | { kind: 'nodes'; dc: string }
  | { kind: 'node'; dc: string; node: string }
  /** A KV folder: '' for the top, otherwise a prefix ending in '/'. */
  | { kind: 'kv'; dc: string; prefix: string }
  | { kind: 'kv-edit'; dc: string; key: string }
  | { kind: 'settings'; dc: string }
  | { kind: 'not-found'; dc: string };

/**
 * The UI's path: where app.js was served from (/ui/ unless the agent was given another content
 * path), so the routes follow the agent's setting instead of assuming it.
 */
export const BASE = /^https?:$/.test(new URL(import.meta.url).protocol)
  ? new URL('.', import.meta.url).pathname
  : '/ui/';

function decode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

export function parseRoute(pathname: string): Route {
  if (!pathname.startsWith(BASE)) return { kind: 'root' };
  const rest = pathname.slice(BASE.length);
  if (rest === '') return { kind: 'root' };
  const parts = rest.split('/');
  const dc = decode(parts[0] ?? '') ?? '';
  const section = parts[1] ?? '';
  const tail = parts.slice(2);
  const notFound: Route = { kind: 'not-found', dc };
  if (dc === '') return { kind: 'root' };
  // A single named thing: exactly one non-empty segment after the section.
  const one = (): string | null =>
    tail.length === 1 && tail[0] !== '' ? decode(tail[0] ?? '') : tail.length === 0 ? '' : null;
  switch (section) {
    case '':
      return { kind: 'services', dc };
    case 'services': {
      const name = one();
      if (name === null) return notFound;
      return name === '' ? { kind: 'services', dc } : { kind: 'service', dc, name };
    }
    case 'nodes': {
      const node = one();
      if (node === null) return notFound;
      return node === '' ? { kind: 'nodes', dc } : { kind: 'node', dc, node };
    }
    case 'settings':
      return { kind: 'settings', dc };
    case 'kv': {
      const segs = tail.map(decode);
      if (segs.some((s) => s === null)) return notFound;
      const key = (segs as string[]).join('/');
      // `<key>/edit` edits a key; anything else (ending in '/' or empty) is a folder.
      if (segs.length >= 2 && segs[segs.length - 1] === 'edit') {
        const k = (segs as string[]).slice(0, -1).join('/');
        return { kind: 'kv-edit', dc, key: k };
      }
      if (key === '') return { kind: 'kv', dc, prefix: '' };
      return { kind: 'kv', dc, prefix: key.endsWith('/') ? key : `${key}/` };
    }
    default:
      return notFound;
  }
}

const encKey = (k: string): string => k.split('/').map(encodeURIComponent).join('/');

export function routePath(r: Route): string {
  switch (r.kind) {
    case 'root':
      return BASE;
    case 'services':
      return `${BASE}${encodeURIComponent(r.dc)}/services`;
    case 'service':
      return `${BASE}${encodeURIComponent(r.dc)}/services/${encodeURIComponent(r.name)}`;
    case 'nodes':
      return `${BASE}${encodeURIComponent(r.dc)}/nodes`;
    case 'node':
      return `${BASE}${encodeURIComponent(r.dc)}/nodes/${encodeURIComponent(r.node)}`;
    case 'kv':
      return `${BASE}${encodeURIComponent(r.dc)}/kv/${encKey(r.prefix)}`;
    case 'kv-edit':
      return `${BASE}${encodeURIComponent(r.dc)}/kv/${encKey(r.key)}/edit`;
    case 'settings':
      return `${BASE}${encodeURIComponent(r.dc)}/settings`;
    case 'not-found':
      return `${BASE}${encodeURIComponent(r.dc)}/`;
  }
}

/** The section a route belongs to, for the navigation's current-page marker. */
export function sectionOf(r: Route): Section | null {
  switch (r.kind) {
    case 'services':
    case 'service':
      return 'services';
    case 'nodes':
    case 'node':
      return 'nodes';
    case 'kv':
    case 'kv-edit':
      return 'kv';
    case 'settings':
      return 'settings';
    case 'root':
    case 'not-found':
      return null;
  }
}

/** The same page in another datacenter (a named service or key may not exist there: its list). */
export function inDatacenter(r: Route, dc: string): Route {
  switch (r.kind) {
    case 'root':
      return { kind: 'services', dc };
    case 'services':
    case 'service':
      return { kind: 'services', dc };
    case 'nodes':
    case 'node':
      return { kind: 'nodes', dc };
    case 'kv':
    case 'kv-edit':
      return { kind: 'kv', dc, prefix: '' };
    case 'settings':
      return { kind: 'settings', dc };
    case 'not-found':
      return { kind: 'services', dc };
  }
}

const CHANGE = 'consulate:navigate';

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  window.dispatchEvent(new Event(CHANGE));
}

export interface Location {
  pathname: string;
  search: string;
}

export function useLocation(): Location {
  const read = (): Location => ({ pathname: location.pathname, search: location.search });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const on = (): void => setLoc(read());
    window.addEventListener('popstate', on);
    window.addEventListener(CHANGE, on);
    return () => {
      window.removeEventListener('popstate', on);
      window.removeEventListener(CHANGE, on);
    };
  }, []);
  return loc;
}

/**
 * Turns a plain left click on a same-origin /ui/ link into navigate(); modified clicks (new tab,
 * download) and other links keep the browser's behaviour. Installed once on the document.
 */
export function interceptLinks(): void {
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || a.target !== '' || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}
