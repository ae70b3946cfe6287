import { Alert } from '../Alert';
import { Button } from '../Button';

/** One service of the page is down: say which, say what still works, offer to try again. */
export function ServiceDown({
  title,
  others,
  onRetry,
  disabled = false,
}: {
  title: string;
  others: string;
  onRetry(): void;
  disabled?: boolean;
}) {
  return (
    <Alert tone="warning" title={title}>
      {others}{' '}
      <Button variant="link" onClick={onRetry} disabled={disabled}>
        Try again
      </Button>
    </Alert>
  );
}
