import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate, useParams, useSearchParams } from 'react-router';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { PasswordField, TextField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { PasskeyMfaOption } from '../components/PasskeyMfaOption';
import { PageLoader } from '../components/Spinner';
import { type FieldProps, useAsyncForm } from '../components/useAsyncForm';
import type { MfaMethod } from '../api/types';
import { useAuth } from '../contexts/AuthContext';
import { toApiProblem } from '../services/errors';
import { browserNavigation, identitiesApi, type LinkRequired } from '../services/identitiesApi';
import { isWebAuthnCancel, passkeyApi } from '../services/passkeyApi';

/** Shown on the Security page after "Link Google" came back (read by LinkedIdentitiesCard). */
export interface IdentityNoticeState {
  identityNotice?: string;
}

type Step =
  | { kind: 'working' }
  | { kind: 'error'; message: string }
  | { kind: 'mfa'; sessionToken: string; methods: MfaMethod[] }
  | { kind: 'link'; pending: LinkRequired };

/**
 * Where the identity provider sends the browser back (`/login/{provider}/callback?code&state`).
 * The page hands code and state to the service (with the HttpOnly cookie that binds the flow
 * to this browser) and follows its answer: signed in, a second factor to enter, the password
 * of an existing account to link, or — coming from "Link Google" on Security — linked.
 */
export function OidcCallbackPage() {
  const { provider = '' } = useParams();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const { status } = useAuth();
  const callbackPath = useLocation().pathname;
  const [step, setStep] = useState<Step>({ kind: 'working' });
  const started = useRef(false);

  useEffect(() => {
    // Wait for the session check: a signed-in user linking must be known before we post.
    if (started.current || status === 'loading') return;
    started.current = true;
    const code = params.get('code');
    const state = params.get('state');
    // The code is single-use; keep it out of the history all the same.
    navigate(callbackPath, { replace: true });
    if (params.get('error')) {
      setStep({ kind: 'error', message: 'The sign-in was cancelled at the provider. Nothing was changed.' });
      return;
    }
    if (!code || !state) {
      setStep({ kind: 'error', message: 'This sign-in link is incomplete. Start again.' });
      return;
    }
    identitiesApi
      .callback(provider, code, state)
      .then((answer) => {
        if ('access_token' in answer) signedIn();
        else if (answer.status === 'mfa_required')
          setStep({ kind: 'mfa', sessionToken: answer.session_token, methods: answer.methods });
        else if (answer.status === 'link_required') setStep({ kind: 'link', pending: answer });
        else
          navigate('/security', {
            replace: true,
            state: { identityNotice: `Your account at ${providerName(provider)} is linked: you can sign in with it.` },
          });
      })
      .catch((error) => setStep({ kind: 'error', message: toApiProblem(error).message }));
  }, [callbackPath, navigate, params, provider, status]);

  if (step.kind === 'mfa') return <SecondFactorForm sessionToken={step.sessionToken} methods={step.methods} />;
  if (step.kind === 'link') return <LinkForm pending={step.pending} />;
  return (
    <>
      <PageHeader title={`Signing in with ${providerName(provider)}`} />
      {step.kind === 'error' ? (
        <>
          <Alert tone="error">{step.message}</Alert>
          <Link to={status === 'authenticated' ? '/security' : '/login'} className="btn btn--secondary">
            {status === 'authenticated' ? 'Back to Security' : 'Back to sign in'}
          </Link>
        </>
      ) : (
        <PageLoader label="Checking the answer of the sign-in provider…" />
      )}
    </>
  );
}

function providerName(provider: string): string {
  return provider === 'google' ? 'Google' : provider;
}

/** The session cookie is set: load the app afresh, which resumes the session from it. */
function signedIn() {
  browserNavigation.replace('/');
}

/** A TOTP or backup code (the service tells them apart). */
function CodeField({ label, field }: { label: string; field: FieldProps }) {
  return <TextField label={label} autoComplete="one-time-code" className="input--code" {...field} />;
}

/** The second factor after a provider sign-in: the account's passkey, or a TOTP or backup code. */
function SecondFactorForm({ sessionToken, methods }: { sessionToken: string; methods: MfaMethod[] }) {
  const { verifyMfa, status } = useAuth();
  const navigate = useNavigate();
  const form = useAsyncForm({ code: '' });
  const passkey = methods.includes('passkey');
  const app = methods.includes('totp');

  // A passkey signs in through the auth context: go home once it has.
  useEffect(() => {
    if (status === 'authenticated') navigate('/', { replace: true });
  }, [navigate, status]);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const value = form.values.code.replace(/\s+/g, '');
    const result = await form.run(() => verifyMfa(sessionToken, value), {
      codeToField: { invalid_mfa_code: 'code' },
      validate: () => (value ? {} : { code: 'Enter a code from your authenticator app, or a backup code.' }),
    });
    if (result.ok) navigate('/', { replace: true });
    else form.setValue('code', '');
  };

  return (
    <>
      <PageHeader
        title="Two-factor authentication"
        description={
          passkey && !app
            ? 'Your account has two-factor authentication: use your passkey, or enter a backup code.'
            : `Your account has two-factor authentication: ${passkey ? 'use your passkey, or ' : ''}enter the code from your authenticator app, or a backup code.`
        }
      />
      {passkey ? <PasskeyMfaOption sessionToken={sessionToken} primary={!app} onFailed={() => undefined} /> : null}
      <FormAlert form={form} />
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
        <CodeField label={app ? 'Authentication code' : 'Backup code'} field={form.field('code')} />
        <Button type="submit" block loading={form.submitting}>
          {form.submitting ? 'Verifying…' : 'Verify'}
        </Button>
      </form>
      <p className="auth__alt">
        <Link to="/login">Start over</Link>
      </p>
    </>
  );
}

function LinkForm({ pending }: { pending: LinkRequired }) {
  const form = useAsyncForm({ password: '', code: '' });
  const { password, code } = form.values;
  const name = providerName(pending.provider);
  const passkey = pending.methods.includes('passkey');
  const app = pending.methods.includes('totp');
  const codeMessage = app
    ? 'Enter a code from your authenticator app, or a backup code.'
    : 'Enter a backup code, or use your passkey.';

  /** The password and one of the account's passkeys, instead of a code. */
  const withPasskey = async () => {
    const result = await form.run(
      async () => {
        try {
          await passkeyApi.link(pending.link_token, password);
        } catch (failure) {
          if (isWebAuthnCancel(failure)) throw new Error('No passkey was used. Try again, or enter a code instead.');
          throw failure;
        }
      },
      {
        codeToField: { invalid_credentials: 'password' },
        messages: { invalid_credentials: 'The password is not correct.' },
        validate: () => ({ password: password ? undefined : 'Enter the password of your Quantagro account.' }),
      },
    );
    if (result.ok) signedIn();
    else form.setValue('password', '');
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmedCode = code.replace(/\s+/g, '');
    const result = await form.run(
      () => identitiesApi.completeLink(pending.link_token, password, pending.mfa_required ? trimmedCode : undefined),
      {
        codeToField: {
          invalid_credentials: 'password',
          invalid_mfa_code: 'code',
          mfa_code_required: 'code',
        },
        messages: { invalid_credentials: 'The password is not correct.' },
        validate: () => ({
          password: password ? undefined : 'Enter the password of your Quantagro account.',
          code: pending.mfa_required && !trimmedCode ? codeMessage : undefined,
        }),
      },
    );
    if (result.ok) signedIn();
    else form.setValues({ password: '', code: '' });
  };

  return (
    <>
      <PageHeader
        title={`Link ${name} to your account`}
        description={`A Quantagro account already uses ${pending.email}. To sign in with ${name} from now on, prove it is yours: enter its password${pending.mfa_required ? (passkey ? ', then use its passkey or enter a code' : ' and a code from your authenticator app') : ''}.`}
      />
      <FormAlert form={form} />
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
        <PasswordField
          label="Password of your Quantagro account"
          autoComplete="current-password"
          {...form.field('password')}
        />
        {passkey ? (
          <Button type="button" block loading={form.submitting} onClick={() => void withPasskey()}>
            Link {name} with your passkey
          </Button>
        ) : null}
        {pending.mfa_required ? (
          <CodeField label={app ? 'Code from your app, or a backup code' : 'Backup code'} field={form.field('code')} />
        ) : null}
        <Button type="submit" block variant={passkey ? 'secondary' : 'primary'} loading={form.submitting}>
          {form.submitting ? 'Linking…' : `Link ${name} and sign in`}
        </Button>
      </form>
      <p className="auth__alt">
        Not your account? <Link to="/login">Back to sign in</Link> — nothing was linked.
      </p>
    </>
  );
}
