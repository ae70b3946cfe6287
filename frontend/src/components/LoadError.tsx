import { toApiProblem } from '../services/errors';
import { Alert } from './Alert';
import { Button } from './Button';

/** A failed load: the plain sentence for the error (services/errors.ts) and a Retry button. */
export function LoadError({ error, onRetry }: { error: unknown; onRetry(): void }) {
  return (
    <Alert tone="error">
      {toApiProblem(error).message}{' '}
      <Button variant="link" onClick={onRetry}>
        Retry
      </Button>
    </Alert>
  );
}
