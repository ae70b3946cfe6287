import { useEffect, useState } from 'react';
import { useAuth } from '../contexts/AuthContext';
import { toApiProblem } from '../services/errors';
import { isWebAuthnCancel, passkeyApi } from '../services/passkeyApi';
import { Alert } from './Alert';
import { Button } from './Button';

/**
 * Passwordless sign-in on the login page: the e-mail field (`autocomplete="username webauthn"`)
 * offers saved passkeys through the browser's conditional UI, and "Use a passkey" opens
 * the browser's passkey dialog. A passkey sign-in counts as two-factor (docs/passkeys.md).
 * (The label avoids "Sign in": tests find the password form's button by that name.)
 */
export function PasskeySignIn({ persist }: { persist: boolean }) {
  const { adoptSignIn } = useAuth();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const supported = passkeyApi.supported();

  // biome-ignore lint/correctness/useExhaustiveDependencies: the conditional request starts once per visit, with the settings of that moment
  useEffect(() => {
    if (!supported) return undefined;
    let active = true;
    void (async () => {
      if (!(await passkeyApi.autofillSupported()) || !active) return;
      try {
        const tokens = await passkeyApi.signIn(persist, true);
        if (active) await adoptSignIn(tokens);
      } catch (failure) {
        // Only a refusal of the passkey the user picked is worth saying; a background request
        // that could not start (offline, rate limited) stays quiet — the button still works.
        const problem = isWebAuthnCancel(failure) ? null : toApiProblem(failure);
        if (active && problem && (problem.status === 401 || problem.status === 403)) setError(problem.message);
      }
    })();
    return () => {
      active = false;
      passkeyApi.cancel();
    };
  }, [supported]);

  if (!supported) return null;

  const signIn = async () => {
    setBusy(true);
    setError(null);
    try {
      await adoptSignIn(await passkeyApi.signIn(persist));
    } catch (failure) {
      setError(
        isWebAuthnCancel(failure)
          ? 'No passkey was used. Try again, or sign in with your password.'
          : toApiProblem(failure).message,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="passkey-sign-in">
      {error ? <Alert tone="error">{error}</Alert> : null}
      <Button type="button" variant="secondary" block loading={busy} onClick={signIn}>
        Use a passkey
      </Button>
    </div>
  );
}
