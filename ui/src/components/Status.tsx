// A health status as an icon *and* a word, so it reads the same without colour (WCAG 1.4.1).

import type { Health } from '../health.js';

const LABEL: Record<Health, string> = {
  passing: 'passing',
  warning: 'warning',
  critical: 'critical',
  none: 'no checks',
};

function Icon({ status }: { status: Health }) {
  // Inline SVG: no icon font to load, and the shape differs per status, not only the colour.
  switch (status) {
    case 'passing':
      return (
        <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
          <circle cx="8" cy="8" r="7" />
          <path d="M4.5 8.2l2.3 2.3 4.7-4.9" class="mark" />
        </svg>
      );
    case 'warning':
      return (
        <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
          <path d="M8 1.2l7 13H1z" />
          <path d="M8 6v4M8 11.6v.4" class="mark" />
        </svg>
      );
    case 'critical':
      return (
        <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
          <rect x="1" y="1" width="14" height="14" rx="3" />
          <path d="M5 5l6 6M11 5l-6 6" class="mark" />
        </svg>
      );
    case 'none':
      return (
        <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
          <circle cx="8" cy="8" r="6.3" class="hollow" />
        </svg>
      );
  }
}

export function StatusBadge({ status, text }: { status: Health; text?: string }) {
  return (
    <span class={`status status-${status}`} data-status={status}>
      <Icon status={status} />
      <span>{text ?? LABEL[status]}</span>
    </span>
  );
}

/** "3 passing, 1 critical": counts with icons; zero counts are left out. */
export function StatusCounts({
  passing,
  warning,
  critical,
}: {
  passing: number;
  warning: number;
  critical: number;
}) {
  const parts: [Health, number][] = [
    ['passing', passing],
    ['warning', warning],
    ['critical', critical],
  ];
  const shown = parts.filter(([, n]) => n > 0);
  if (shown.length === 0) return <StatusBadge status="none" />;
  return (
    <span class="counts">
      {shown.map(([s, n]) => (
        <StatusBadge key={s} status={s} text={`${n} ${s}`} />
      ))}
    </span>
  );
}
