import { useEffect, useState } from 'react';

/** Seconds left until `until` (a Date.now() value), ticking once a second; 0 when passed. */
export function useCountdown(until: number | null): number {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (until === null) return;
    const timer = window.setInterval(() => setTick((n) => n + 1), 1000);
    return () => window.clearInterval(timer);
  }, [until]);
  // The clock is read while rendering: the first render after `until` is set must not use a
  // time from before it (that would show one second, or one minute, too many).
  return until === null ? 0 : Math.max(0, Math.ceil((until - Date.now()) / 1000));
}
