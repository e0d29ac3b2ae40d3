// Small pieces every view uses: tags, key/value lists, the error box, the page heading and the
// health filter.

import { useEffect, useRef } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { ApiError, isNoLeader } from '../api.js';
import { parseStatus, type StatusFilter } from '../filter.js';

export function Tags({ tags }: { tags: readonly string[] | null }) {
  if (!tags || tags.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="tags" aria-label="Tags">
      {tags.map((t) => (
        <li key={t} class="tag">
          {t}
        </li>
      ))}
    </ul>
  );
}

export function MetaList({ meta, label }: { meta: Record<string, string> | null; label: string }) {
  const entries = Object.entries(meta ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <dl class="meta" aria-label={label}>
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function ErrorBox({ error, what }: { error: unknown; what: string }) {
  // No-leader errors have their own banner in the layout; saying it twice helps nobody.
  if (error === null || error === undefined || isNoLeader(error)) return null;
  const msg =
    error instanceof ApiError
      ? `${error.status}: ${error.message}`
      : error instanceof Error
        ? error.message
        : 'unknown error';
  return (
    <div class="error" role="alert">
      Could not load {what}: {msg}. Retrying.
    </div>
  );
}

/**
 * The page's h1. It takes focus when the page changes, so a keyboard or screen reader user lands
 * on the new content rather than at the top of the document (there is no page load to reset it).
 */
export function PageTitle({ children, title }: { children: ComponentChildren; title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} - Consulate`;
    ref.current?.focus({ preventScroll: true });
  }, [title]);
  return (
    <h1 id="page-title" tabIndex={-1} ref={ref}>
      {children}
    </h1>
  );
}

/** `retrying`: a request failed and the view is asking again (the error says why, above). */
export function Loading({ what, retrying = false }: { what: string; retrying?: boolean }) {
  return (
    <p class="muted" role="status">
      {retrying ? `No answer with ${what} yet; asking again…` : `Loading ${what}…`}
    </p>
  );
}

/**
 * The health filter of a list: any, passing, warning or critical. `has`: the services list's
 * wording, where a service matches when any of its checks is in that status.
 */
export function StatusSelect({
  value,
  onChange,
  has = false,
}: {
  value: StatusFilter;
  onChange: (status: StatusFilter) => void;
  has?: boolean;
}) {
  const label = (s: string): string => (has ? `Has ${s.toLowerCase()} checks` : s);
  return (
    <label>
      Status
      <select value={value} onChange={(e) => onChange(parseStatus(e.currentTarget.value))}>
        <option value="">Any status</option>
        <option value="passing">{label('Passing')}</option>
        <option value="warning">{label('Warning')}</option>
        <option value="critical">{label('Critical')}</option>
      </select>
    </label>
  );
}
