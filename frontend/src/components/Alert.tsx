import { forwardRef, type ReactNode } from 'react';

type Tone = 'error' | 'success' | 'info' | 'warning';

interface AlertProps {
  tone?: Tone;
  title?: string;
  children: ReactNode;
  className?: string;
}

/**
 * A message region. Errors use `role="alert"` (announced at once); the rest `role="status"`.
 * Focusable so a failed submit can move focus to it.
 */
export const Alert = forwardRef<HTMLDivElement, AlertProps>(function Alert(
  { tone = 'error', title, children, className },
  ref,
) {
  return (
    <div
      ref={ref}
      tabIndex={-1}
      role={tone === 'error' ? 'alert' : 'status'}
      className={`alert alert--${tone}${className ? ` ${className}` : ''}`}
    >
      <span className="alert__icon" aria-hidden="true">
        {tone === 'error' ? '!' : tone === 'success' ? '✓' : tone === 'warning' ? '!' : 'i'}
      </span>
      <div className="alert__body">
        {title ? <p className="alert__title">{title}</p> : null}
        <div>{children}</div>
      </div>
    </div>
  );
});
