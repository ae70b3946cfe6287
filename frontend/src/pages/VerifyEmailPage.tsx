import { useEffect, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Alert } from '../components/Alert';
import { PageHeader } from '../components/PageHeader';
import { PageLoader } from '../components/Spinner';
import { useAuth } from '../contexts/AuthContext';
import { authApi } from '../services/authApi';
import { toApiProblem } from '../services/errors';

type State = { kind: 'verifying' } | { kind: 'verified' } | { kind: 'failed'; message: string };

export function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { status, refreshUser } = useAuth();
  const [state, setState] = useState<State>(
    token ? { kind: 'verifying' } : { kind: 'failed', message: 'This verification link is incomplete.' },
  );
  const started = useRef(false);

  useEffect(() => {
    // The token is single-use: post it once, even when React runs effects twice.
    if (!token || started.current) return;
    started.current = true;
    authApi
      .verifyEmail(token)
      .then(() => setState({ kind: 'verified' }))
      .catch((error) => setState({ kind: 'failed', message: toApiProblem(error).message }));
  }, [token]);

  useEffect(() => {
    if (state.kind === 'verified' && status === 'authenticated') void refreshUser();
  }, [state.kind, status, refreshUser]);

  return (
    <>
      <PageHeader title="Verify your email" />
      {state.kind === 'verifying' ? <PageLoader label="Verifying your email address…" /> : null}
      {state.kind === 'verified' ? (
        <>
          <Alert tone="success">Your email address is verified. Thank you!</Alert>
          <Link className="btn btn--primary btn--block" to={status === 'authenticated' ? '/' : '/login'}>
            {status === 'authenticated' ? 'Go to your account' : 'Sign in'}
          </Link>
        </>
      ) : null}
      {state.kind === 'failed' ? (
        <>
          <Alert tone="error">{state.message}</Alert>
          <p className="muted">
            Links expire and work once. {status === 'authenticated'
              ? 'Use “Resend email” in the banner at the top of your account pages to get a new one.'
              : 'Sign in and use “Resend email” to get a new one.'}
          </p>
          <Link className="btn btn--secondary btn--block" to={status === 'authenticated' ? '/' : '/login'}>
            {status === 'authenticated' ? 'Go to your account' : 'Sign in'}
          </Link>
        </>
      ) : null}
    </>
  );
}
