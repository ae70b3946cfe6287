import { useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { PageHeader } from '../components/PageHeader';
import { useAuth } from '../contexts/AuthContext';
import { toApiProblem } from '../services/errors';
import { usersApi } from '../services/usersApi';

type State =
  | { kind: 'idle' }
  | { kind: 'busy' }
  | { kind: 'done'; devices: number }
  | { kind: 'failed'; message: string };

/**
 * `/freeze?token=…`, the "Freeze my account" link of a new-sign-in e-mail. It works signed out
 * (the phone may be gone). Nothing happens until the button is pressed: mail scanners that
 * open links must not freeze anyone's account.
 */
export function FreezeLinkPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { status, endSession } = useAuth();
  const [state, setState] = useState<State>(
    token ? { kind: 'idle' } : { kind: 'failed', message: 'This freeze link is incomplete.' },
  );

  const freeze = async () => {
    setState({ kind: 'busy' });
    try {
      const result = await usersApi.freezeWithLink(token);
      setState({ kind: 'done', devices: result.sessions_revoked ?? 0 });
      if (status === 'authenticated') endSession('frozen');
    } catch (error) {
      setState({ kind: 'failed', message: toApiProblem(error).message });
    }
  };

  return (
    <>
      <PageHeader title="Freeze your account" />
      {state.kind === 'idle' || state.kind === 'busy' ? (
        <>
          <p>
            Freezing signs out every device at once and stops all trading on your trading accounts, including by people
            you share them with. You can unfreeze later with your password and your authenticator app.
          </p>
          <Button variant="danger" className="btn--block" onClick={freeze} loading={state.kind === 'busy'}>
            Freeze my account now
          </Button>
        </>
      ) : null}
      {state.kind === 'done' ? (
        <>
          <Alert tone="success" title="Your account is frozen.">
            {state.devices === 1 ? '1 device was' : `${state.devices} devices were`} signed out and trading is off. We
            sent you an e-mail. Change your password if you think someone knows it.
          </Alert>
          <Link className="btn btn--secondary btn--block" to="/forgot-password">
            Reset my password
          </Link>
        </>
      ) : null}
      {state.kind === 'failed' ? (
        <>
          <Alert tone="error">{state.message}</Alert>
          <Link className="btn btn--secondary btn--block" to="/login">
            Sign in
          </Link>
        </>
      ) : null}
    </>
  );
}

/** `/unfreeze?token=…`: the confirmation e-mailed to people without two-factor authentication. */
export function UnfreezeConfirmPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { refreshUser } = useAuth();
  const [state, setState] = useState<State>(
    token ? { kind: 'idle' } : { kind: 'failed', message: 'This unfreeze link is incomplete.' },
  );
  const doneRef = useRef<HTMLDivElement>(null);

  const confirm = async () => {
    setState({ kind: 'busy' });
    try {
      await usersApi.confirmUnfreeze(token);
      await refreshUser();
      setState({ kind: 'done', devices: 0 });
      doneRef.current?.focus();
    } catch (error) {
      setState({ kind: 'failed', message: toApiProblem(error).message });
    }
  };

  return (
    <>
      <PageHeader title="Unfreeze your account" />
      {state.kind === 'idle' || state.kind === 'busy' ? (
        <>
          <p>Trading on your accounts starts again as soon as you confirm.</p>
          <Button onClick={confirm} loading={state.kind === 'busy'}>
            Unfreeze my account
          </Button>
        </>
      ) : null}
      {state.kind === 'done' ? (
        <Alert ref={doneRef} tone="success" title="Your account is unfrozen.">
          Trading is possible again. <Link to="/trading-accounts">Go to your trading accounts</Link>.
        </Alert>
      ) : null}
      {state.kind === 'failed' ? (
        <>
          <Alert tone="error">{state.message}</Alert>
          <Link className="btn btn--secondary" to="/security">
            Back to Security
          </Link>
        </>
      ) : null}
    </>
  );
}
