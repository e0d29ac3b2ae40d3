// Timers for check durations, which users may set far beyond what setTimeout holds: Node fires a
// delay over 2^31-1 ms (~24.8 days) after 1 ms instead, which would expire a 30-day TTL at once.
// Long delays are chained; every timer is unref'd so a check never keeps the process alive.

const MAX_DELAY = 2 ** 31 - 1;

export interface Timer {
  clear(): void;
}

export function setLongTimeout(fn: () => void, ms: number): Timer {
  let handle: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (left: number): void => {
    const step = Math.min(Math.max(left, 0), MAX_DELAY);
    handle = setTimeout(() => {
      if (cleared) return;
      if (left > MAX_DELAY) arm(left - MAX_DELAY);
      else fn();
    }, step);
    handle.unref();
  };
  arm(ms);
  return {
    clear() {
      cleared = true;
      if (handle) clearTimeout(handle);
    },
  };
}
