import { useEffect, useState } from 'react';
import { toApiProblem } from '../services/errors';
import { mfaApi } from '../services/mfaApi';
import { isWebAuthnCancel, passkeyApi } from '../services/passkeyApi';
import { Button } from './Button';

/**
 * Step-up with a passkey, inside the step-up dialog: shown only when the account holds one.
 * `onDone` receives the new access token (fresh `mfa_at`); `onError` a sentence to show.
 */
export function PasskeyStepUp({
  onDone,
  onError,
}: {
  onDone(token: { access_token: string; expires_in: number }): void;
  onError(message: string): void;
}) {
  const [hasPasskey, setHasPasskey] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!passkeyApi.supported()) return;
    let active = true;
    mfaApi
      .factors()
      .then((list) => active && setHasPasskey(list.factors.some((f) => f.type === 'passkey')))
      .catch(() => undefined);
    return () => {
      active = false;
    };
  }, []);

  if (!hasPasskey) return null;

  const stepUp = async () => {
    setBusy(true);
    try {
      onDone(await passkeyApi.stepUp());
    } catch (failure) {
      onError(
        isWebAuthnCancel(failure) ? 'No passkey was used. Try again, or enter a code.' : toApiProblem(failure).message,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <Button type="button" variant="secondary" block loading={busy} onClick={() => void stepUp()}>
      Use your passkey
    </Button>
  );
}
