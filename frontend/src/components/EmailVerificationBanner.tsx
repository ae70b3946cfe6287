import { useState } from 'react';
import { useAuth } from '../contexts/AuthContext';
import { authApi } from '../services/authApi';
import { toApiProblem } from '../services/errors';
import { Button } from './Button';

/** Shown on every signed-in page until the email address is verified. */
export function EmailVerificationBanner() {
  const { user } = useAuth();
  const [state, setState] = useState<'idle' | 'sending' | 'sent'>('idle');
  const [error, setError] = useState<string | null>(null);
  if (!user || user.email_verified) return null;

  const resend = async () => {
    setState('sending');
    setError(null);
    try {
      await authApi.resendVerification();
      setState('sent');
    } catch (err) {
      setError(toApiProblem(err).message);
      setState('idle');
    }
  };

  return (
    <section className="banner" aria-label="Email verification">
      <div className="banner__inner">
        <p className="banner__text">
          <strong>Verify your email address.</strong> We sent a link to <span className="nowrap">{user.email}</span>.
          {state === 'sent' ? <span role="status"> A new link is on its way.</span> : null}
          {error ? <span role="alert"> {error}</span> : null}
        </p>
        {state !== 'sent' ? (
          <Button variant="secondary" size="sm" onClick={resend} loading={state === 'sending'}>
            Resend email
          </Button>
        ) : null}
      </div>
    </section>
  );
}
