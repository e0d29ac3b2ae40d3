// sorted-btree is CommonJS with a default export: Node's ESM loader hands us the module object,
// bundlers (the test runner) the class itself. One place resolves it.

import BTreeModule from 'sorted-btree';

export type BTree<K, V> = BTreeModule.default<K, V>;

export const BTree: typeof BTreeModule.default =
  (BTreeModule as unknown as { default?: typeof BTreeModule.default }).default ??
  (BTreeModule as unknown as typeof BTreeModule.default);

/** The smallest string greater than every string that starts with `p` (undefined: no bound). */
export function prefixEnd(p: string): string | undefined {
  let s = p;
  while (s.length > 0 && s.charCodeAt(s.length - 1) === 0xffff) s = s.slice(0, -1);
  if (s.length === 0) return undefined;
  return s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) + 1);
}

/** Calls `fn` for every pair whose key starts with `prefix`, in key order. */
export function forPrefix<V>(tree: BTree<string, V>, prefix: string, fn: (k: string, v: V) => void): void {
  const end = prefixEnd(prefix);
  if (end === undefined) {
    if (prefix === '') {
      tree.forEach((v, k) => fn(k, v));
      return;
    }
    // Only a prefix made of U+FFFF has no upper bound: walk from it while keys still match.
    for (const [k, v] of tree.entries(prefix)) {
      if (!k.startsWith(prefix)) break;
      fn(k, v);
    }
  } else {
    tree.forRange(prefix, end, false, (k, v) => fn(k, v));
  }
}
