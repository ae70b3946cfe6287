import { useState } from 'react';
import { useAuth } from '../contexts/AuthContext';
import { toApiProblem, type ApiProblem } from '../services/errors';
import { isWebAuthnCancel, passkeyApi } from '../services/passkeyApi';
import { Alert } from './Alert';
import { Button } from './Button';

/**
 * The MFA step's passkey option (when `methods` lists `passkey`): confirms the pending login with
 * one of the account's passkeys instead of a code. `onFailed` hears of a dead sign-in attempt.
 */
export function PasskeyMfaOption({
  sessionToken,
  primary,
  onFailed,
}: {
  sessionToken: string;
  primary: boolean;
  onFailed(problem: ApiProblem): void;
}) {
  const { adoptSignIn } = useAuth();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const verify = async () => {
    setBusy(true);
    setError(null);
    try {
      await adoptSignIn(await passkeyApi.verifyLogin(sessionToken));
    } catch (failure) {
      if (isWebAuthnCancel(failure)) {
        setError('No passkey was used. Try again, or use a code instead.');
      } else {
        const problem = toApiProblem(failure);
        setError(problem.message);
        onFailed(problem);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="passkey-mfa">
      {error ? <Alert tone="error">{error}</Alert> : null}
      <Button type="button" variant={primary ? 'primary' : 'secondary'} block loading={busy} onClick={verify}>
        Use your passkey
      </Button>
    </div>
  );
}
