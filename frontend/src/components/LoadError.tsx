import { useMemo } from 'react';
import { formatWait, toApiProblem } from '../services/errors';
import { Alert } from './Alert';
import { Button } from './Button';
import { useCountdown } from './useCountdown';

/**
 * A failed load: the plain sentence for the error (services/errors.ts) and a Retry button. A
 * 429 counts its `Retry-After` down with Retry disabled until the wait is over.
 */
export function LoadError({ error, onRetry, loading = false }: { error: unknown; onRetry(): void; loading?: boolean }) {
  const problem = toApiProblem(error);
  const { retryAfter } = problem;
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new error starts a new wait
  const until = useMemo(() => (retryAfter ? Date.now() + retryAfter * 1000 : null), [error, retryAfter]);
  const wait = useCountdown(until);
  const limited = problem.status === 429;
  const message = !limited
    ? problem.message
    : wait > 0
      ? `Too many attempts. Try again in ${formatWait(wait)}.`
      : 'You can try again now.';
  return (
    <Alert tone="error">
      {message}{' '}
      <Button variant="link" onClick={onRetry} disabled={wait > 0} loading={loading}>
        Retry
      </Button>
    </Alert>
  );
}
