import type { KeyboardEvent } from 'react';

/** Keeps Tab and Shift+Tab inside a modal dialog (WAI-ARIA dialog pattern). */
export function keepFocusInside(event: KeyboardEvent<HTMLElement>, container: HTMLElement | null): void {
  if (event.key !== 'Tab' || !container) return;
  const focusable = container.querySelectorAll<HTMLElement>('button:not([disabled]), [href], input, select, textarea');
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (!first || !last) return;
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}
