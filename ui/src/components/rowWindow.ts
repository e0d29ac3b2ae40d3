// Windowed rendering for long tables: only the rows near the viewport are in the DOM, with one
// spacer row above and one below standing in for the rest. Laying out and styling thousands of
// table rows took seconds in Chromium (measured with 5,000 services); a window of ~60 rows costs
// the same whatever the list's length. Short lists render whole, so find-in-page works there.

import type { RefObject } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

/** Lists up to this long render every row. */
export const WINDOW_FROM = 200;
/** Rows rendered beyond each edge of the viewport, so scrolling and tabbing stay ahead of it. */
const OVERSCAN = 20;
/** The row height before one has been measured (the CSS gives windowed rows one line). */
const GUESS_PX = 40;

export interface RowWindow {
  start: number;
  end: number;
  /** Height of the spacer rows above and below, in px (0 when the list renders whole). */
  before: number;
  after: number;
}

/** Which rows [start, end) of `count` to render, given where the table body is on screen. */
export function computeWindow(count: number, bodyTop: number, viewport: number, rowPx: number): RowWindow {
  const first = Math.floor(Math.max(0, -bodyTop) / rowPx);
  const start = Math.min(count, Math.max(0, first - OVERSCAN));
  const end = Math.min(count, first + Math.ceil(viewport / rowPx) + OVERSCAN);
  return {
    start,
    end: Math.max(start, end),
    before: start * rowPx,
    after: (count - Math.max(start, end)) * rowPx,
  };
}

/**
 * The window for a table body (`body`, the tbody) scrolled with the page. The row height is
 * measured from a rendered row (`[data-row]`), so the spacers match the real rows exactly.
 */
export function useRowWindow(count: number, body: RefObject<HTMLElement | null>): RowWindow {
  const windowed = count > WINDOW_FROM;
  const rowPx = useRef(GUESS_PX);
  const measured = useRef(false);
  const [win, setWin] = useState<RowWindow>(() => computeWindow(count, 0, 1000, GUESS_PX));

  // Measured once: reading a row's size forces a layout, which every render would pay for.
  useLayoutEffect(() => {
    if (!windowed || measured.current) return;
    const row = body.current?.querySelector('[data-row]');
    const h = row?.getBoundingClientRect().height ?? 0;
    if (h > 0) measured.current = true;
    if (h > 0 && Math.abs(h - rowPx.current) > 0.01) {
      rowPx.current = h;
      const top = body.current?.getBoundingClientRect().top ?? 0;
      setWin(computeWindow(count, top, window.innerHeight, h));
    }
  });

  useEffect(() => {
    if (!windowed) return;
    let frame = 0;
    const update = (): void => {
      frame = 0;
      const top = body.current?.getBoundingClientRect().top ?? 0;
      const next = computeWindow(count, top, window.innerHeight, rowPx.current);
      setWin((w) =>
        w.start === next.start && w.end === next.end && w.before === next.before && w.after === next.after
          ? w
          : next,
      );
    };
    const schedule = (): void => {
      if (frame === 0) frame = requestAnimationFrame(update);
    };
    update();
    window.addEventListener('scroll', schedule, { passive: true });
    window.addEventListener('resize', schedule);
    return () => {
      cancelAnimationFrame(frame);
      window.removeEventListener('scroll', schedule);
      window.removeEventListener('resize', schedule);
    };
  }, [count, windowed, body]);

  if (!windowed) return { start: 0, end: count, before: 0, after: 0 };
  // The list may have shrunk since the last scroll (a filter): keep the window inside it.
  return win.end <= count ? win : computeWindow(count, 0, window.innerHeight, rowPx.current);
}
