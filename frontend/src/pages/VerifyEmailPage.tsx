import { useEffect, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { PageHeader } from '../components/PageHeader';
import { PageLoader } from '../components/Spinner';
import { useAuth } from '../contexts/AuthContext';
import { authApi } from '../services/authApi';
import { toApiProblem } from '../services/errors';

type State =
  | { kind: 'verifying' }
  | { kind: 'verified' }
  | { kind: 'already' }
  | { kind: 'failed'; message: string; retry: boolean };

const DEAD_LINK = 'This link no longer works.';

const VERIFY_REASONS: Record<string, string> = {
  token_replaced: 'This link was replaced by a newer e-mail. Open the most recent e-mail from us.',
  token_expired: 'This link has expired: verification links work for 24 hours.',
  token_used: 'This link was already used.',
  token_invalid: DEAD_LINK,
};

export function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { status, refreshUser } = useAuth();
  const [state, setState] = useState<State>(
    token ? { kind: 'verifying' } : { kind: 'failed', message: 'This verification link is incomplete.', retry: false },
  );
  const started = useRef(0);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    // The token is single-use: post it once, even when React runs effects twice.
    if (!token || started.current === attempt + 1) return;
    started.current = attempt + 1;
    setState({ kind: 'verifying' });
    authApi
      .verifyEmail(token)
      .then(() => setState({ kind: 'verified' }))
      .catch((error) => {
        const problem = toApiProblem(error);
        if (problem.code !== 'verification_token_invalid') {
          setState({
            kind: 'failed',
            message: problem.message,
            retry: problem.status === null || (problem.status ?? 0) >= 500 || problem.status === 429,
          });
        } else if (problem.reason === 'email_already_verified') {
          setState({ kind: 'already' });
        } else {
          setState({
            kind: 'failed',
            message: VERIFY_REASONS[problem.reason ?? ''] ?? DEAD_LINK,
            retry: false,
          });
        }
      });
  }, [token, attempt]);

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
      {state.kind === 'already' ? (
        <>
          <Alert tone="success">Your e-mail is already verified. Nothing more to do.</Alert>
          <Link className="btn btn--primary btn--block" to={status === 'authenticated' ? '/' : '/login'}>
            {status === 'authenticated' ? 'Go to your account' : 'Sign in'}
          </Link>
        </>
      ) : null}
      {state.kind === 'failed' && state.retry ? (
        <>
          <Alert tone="error">{state.message}</Alert>
          <Button block onClick={() => setAttempt((n) => n + 1)}>
            Retry
          </Button>
        </>
      ) : null}
      {state.kind === 'failed' && !state.retry ? (
        <>
          <Alert tone="error">{state.message}</Alert>
          <p className="muted">
            {status === 'authenticated'
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
