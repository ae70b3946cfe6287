import { useEffect, useRef } from 'react';
import { useLocation } from 'react-router';

/**
 * After client-side navigation, move focus to the new page's heading so keyboard and
 * screen-reader users start at the top of the new content (as a full page load would).
 */
export function RouteFocus() {
  const { pathname } = useLocation();
  const first = useRef(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: focus moves on every route change
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const id = window.setTimeout(() => {
      const heading = document.querySelector<HTMLElement>('main h1');
      if (heading && !heading.contains(document.activeElement)) heading.focus();
      window.scrollTo?.(0, 0);
    }, 0);
    return () => window.clearTimeout(id);
  }, [pathname]);
  return null;
}
