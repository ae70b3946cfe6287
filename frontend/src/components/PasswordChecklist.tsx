import type { PolicyResult } from '../services/passwordPolicy';

const STRENGTH_LABELS = ['Very weak', 'Weak', 'Fair', 'Strong', 'Very strong'];

/** Live feedback on the password policy; one list, read by screen readers as it changes. */
export function PasswordChecklist({ id, result, touched }: { id: string; result: PolicyResult; touched: boolean }) {
  const metCount = result.checks.filter((check) => check.met === true).length;
  return (
    <div className="password-checklist" id={id}>
      {result.score !== null ? (
        <div className="strength-meter" aria-hidden="true">
          <div
            className={`strength-meter__bar strength-meter__bar--${result.score}`}
            style={{ width: `${(result.score + 1) * 20}%` }}
          />
        </div>
      ) : null}
      <p className="password-checklist__summary" aria-live="polite">
        {result.ok
          ? 'Your password meets every requirement.'
          : `Password requirements: ${metCount} of ${result.checks.length} met.`}
        {result.score !== null ? ` Strength: ${STRENGTH_LABELS[result.score]}.` : ''}
      </p>
      <ul className="password-checklist__list" aria-label="Password requirements">
        {result.checks.map((check) => {
          const state = check.met === null ? 'pending' : check.met ? 'met' : touched ? 'unmet' : 'idle';
          return (
            <li key={check.id} className={`rule rule--${state}`} data-rule={check.id}>
              <span className="rule__icon" aria-hidden="true">
                {state === 'met' ? '✓' : state === 'unmet' ? '✕' : state === 'pending' ? '…' : '•'}
              </span>
              <span>{check.label}</span>
              <span className="visually-hidden">
                {state === 'met' ? ' — met' : state === 'pending' ? ' — checking' : ' — not met'}
              </span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
