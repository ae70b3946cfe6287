import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation } from 'react-router';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { GoogleSignInButton } from '../components/GoogleSignInButton';
import { Checkbox, PasswordField, TextField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { PasskeyMfaOption } from '../components/PasskeyMfaOption';
import { PasskeySignIn } from '../components/PasskeySignIn';
import type { LoginRedirectState } from '../components/ProtectedRoute';
import { useAsyncForm } from '../components/useAsyncForm';
import { useCountdown } from '../components/useCountdown';
import { useAuth } from '../contexts/AuthContext';
import type { MfaMethod } from '../api/types';
import { setFlash } from '../services/flash';
import { formatWait } from '../services/errors';

const REASON_MESSAGES: Record<string, string> = {
  signed_out: 'You have signed out.',
  signed_out_everywhere: 'You have signed out on all devices.',
  expired: 'Your session has ended. Please sign in again.',
  ended_elsewhere: 'You were signed out on another device. Sign in again to continue.',
  frozen:
    'Your account is frozen and every device is signed out. Trading stays off until you unfreeze it: sign in, then open Security.',
};

interface MfaStep {
  sessionToken: string;
  methods: MfaMethod[];
}

export function LoginPage() {
  const { login, verifyMfa, endReason } = useAuth();
  const location = useLocation();
  const state = location.state as (LoginRedirectState & { notice?: string; email?: string }) | null;
  const [mfa, setMfa] = useState<MfaStep | null>(null);
  // Kept across the two steps (and a dead MFA step), and pre-filled after registration.
  const [email, setEmail] = useState(state?.email ?? '');
  const [notice, setNotice] = useState<string | null>(
    state?.notice ??
      (state?.reason ? REASON_MESSAGES[state.reason] : endReason ? REASON_MESSAGES[endReason] : null) ??
      null,
  );

  if (mfa) {
    return (
      <MfaStepForm
        step={mfa}
        email={email}
        verify={verifyMfa}
        onExpired={(message) => {
          setMfa(null);
          setNotice(message);
        }}
      />
    );
  }
  return (
    <PasswordStepForm
      notice={notice}
      initialEmail={email}
      login={login}
      onMfaRequired={(step, typed) => {
        setEmail(typed);
        setNotice(null);
        setMfa(step);
      }}
    />
  );
}

function PasswordStepForm({
  notice,
  initialEmail,
  login,
  onMfaRequired,
}: {
  notice: string | null;
  initialEmail: string;
  login: ReturnType<typeof useAuth>['login'];
  /** With the e-mail as typed, kept for the MFA step and a return to this one. */
  onMfaRequired(step: MfaStep, email: string): void;
}) {
  // Off by default: a shared or borrowed computer must not stay signed in for weeks.
  const [persist, setPersist] = useState(false);
  const form = useAsyncForm({ email: initialEmail, password: '' });
  const { email, password } = form.values;

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(() => login(email.trim(), password, persist), {
      validate: () => {
        const errors: Record<string, string> = {};
        if (!email.trim()) errors.email = 'Enter your email address.';
        else if (!/^\S+@\S+\.\S+$/.test(email.trim()))
          errors.email = 'Enter a valid email address, like name@example.com.';
        if (!password) errors.password = 'Enter your password.';
        return errors;
      },
    });
    if (result.ok && result.value.kind === 'mfa_required') {
      onMfaRequired({ sessionToken: result.value.sessionToken, methods: result.value.methods }, email);
    } else if (!result.ok && result.problem?.code === 'invalid_credentials') {
      form.setValue('password', '');
    }
  };

  return (
    <>
      <PageHeader title="Sign in" description="Use your Quantagro account to reach the trading platform." />
      {notice && !form.problem ? <Alert tone="info">{notice}</Alert> : null}
      <FormAlert form={form} />
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
        <TextField
          label="Email"
          type="email"
          autoComplete="username webauthn"
          inputMode="email"
          {...form.field('email')}
          required
        />
        <PasswordField label="Password" autoComplete="current-password" {...form.field('password')} required />
        <div className="form__row form__row--split">
          <Checkbox label="Keep me signed in" checked={persist} onChange={(e) => setPersist(e.target.checked)} />
          <Link to="/forgot-password">Forgot password?</Link>
        </div>
        <Button type="submit" block loading={form.submitting} disabled={form.waiting > 0}>
          {form.submitting ? 'Signing in…' : form.waiting > 0 ? `Wait ${formatWait(form.waiting)}` : 'Sign in'}
        </Button>
      </form>
      {/* Google brings its own "or" divider when configured; the passkey button follows it. */}
      <GoogleSignInButton persistSession={persist} />
      <PasskeySignIn persist={persist} />
      <p className="auth__alt">
        New to Quantagro? <Link to="/register">Create an account</Link>
      </p>
    </>
  );
}

function MfaStepForm({
  step,
  email,
  verify,
  onExpired,
}: {
  step: MfaStep;
  email: string;
  verify: ReturnType<typeof useAuth>['verifyMfa'];
  onExpired(message: string): void;
}) {
  const canUseBackup = step.methods.includes('backup_code');
  const [method, setMethod] = useState<MfaMethod>(
    step.methods.includes('totp') || !canUseBackup ? 'totp' : 'backup_code',
  );
  const form = useAsyncForm({ code: '' });
  const { code } = form.values;
  const inputRef = useRef<HTMLInputElement>(null);
  const [attemptsLeft, setAttemptsLeft] = useState<number | null>(null);
  const [dead, setDead] = useState<string | null>(null);
  const [limitedUntil, setLimitedUntil] = useState<number | null>(null);
  const wait = useCountdown(limitedUntil);
  const limited = wait > 0;

  // biome-ignore lint/correctness/useExhaustiveDependencies: focus returns to the code field whenever the method changes
  useEffect(() => {
    inputRef.current?.focus();
  }, [method]);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const value = method === 'totp' ? code.replace(/\s+/g, '') : code.trim();
    const result = await form.run(() => verify(step.sessionToken, value), {
      codeToField: { invalid_mfa_code: 'code', validation_error: 'code' },
      validate: () => {
        if (!value)
          return {
            code: method === 'totp' ? 'Enter the 6-digit code from your app.' : 'Enter one of your backup codes.',
          };
        if (method === 'totp' && !/^\d{6}$/.test(value)) return { code: 'The code has 6 digits.' };
        return {};
      },
    });
    if (result.ok) {
      if (result.value !== null) {
        setFlash(
          result.value === 0
            ? 'You used your last backup code. Create new ones in Security now, or you could be locked out.'
            : `You signed in with a backup code. ${result.value} backup code${result.value === 1 ? '' : 's'} left — create new ones in Security when you run low.`,
        );
      }
      return;
    }
    form.setValue('code', '');
    const problem = result.problem;
    if (!problem) return;
    if (problem.code === 'mfa_session_expired' || problem.code === 'mfa_session_invalid') {
      setDead(
        problem.code === 'mfa_session_expired' ? 'This sign-in step timed out.' : 'This sign-in attempt has ended.',
      );
    } else if (problem.code === 'rate_limited') {
      setLimitedUntil(Date.now() + (problem.retryAfter ?? 30) * 1000);
    } else if (problem.attemptsRemaining !== null) {
      if (problem.attemptsRemaining <= 0) setDead('That was the last wrong code for this sign-in attempt.');
      else setAttemptsLeft(problem.attemptsRemaining);
    }
  };

  if (dead) {
    return (
      <>
        <PageHeader title="Two-factor authentication" />
        <Alert tone="error">{dead} For your safety, start again with your password.</Alert>
        <Button block onClick={() => onExpired(email ? `Sign in again as ${email}.` : 'Sign in again.')}>
          Sign in again
        </Button>
      </>
    );
  }

  const switchMethod = () => {
    setMethod((current) => (current === 'totp' ? 'backup_code' : 'totp'));
    form.setValue('code', '');
    form.reset();
  };

  return (
    <>
      <PageHeader
        title="Two-factor authentication"
        description={
          method === 'totp'
            ? 'Open your authenticator app and enter the 6\u2011digit code for Quantagro.'
            : 'Enter one of the backup codes you saved when you turned on two-factor authentication. Each code works once.'
        }
      />
      {step.methods.includes('passkey') ? (
        <PasskeyMfaOption
          sessionToken={step.sessionToken}
          primary={!step.methods.includes('totp')}
          onFailed={(problem) => problem.code.startsWith('mfa_session') && onExpired(problem.message)}
        />
      ) : null}
      {limited ? (
        <Alert tone="warning">Too many attempts. Try again in {formatWait(wait)}.</Alert>
      ) : (
        <FormAlert form={form} />
      )}
      {attemptsLeft !== null && attemptsLeft <= 2 && !limited ? (
        <p className="form__attempts" role="status">
          {attemptsLeft === 1 ? '1 attempt left' : `${attemptsLeft} attempts left`} before you have to sign in again.
        </p>
      ) : null}
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
        {method === 'totp' ? (
          <TextField
            key="totp"
            ref={inputRef}
            label="Authentication code"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9]*"
            maxLength={7}
            className="input--code"
            {...form.field('code')}
          />
        ) : (
          <TextField
            key="backup"
            ref={inputRef}
            label="Backup code"
            autoComplete="off"
            spellCheck={false}
            autoCapitalize="off"
            className="input--code"
            {...form.field('code')}
          />
        )}
        <Button type="submit" block loading={form.submitting} disabled={limited}>
          {form.submitting ? 'Verifying…' : limited ? `Wait ${wait} s` : 'Verify'}
        </Button>
      </form>
      {canUseBackup && step.methods.includes('totp') ? (
        <p className="auth__alt">
          <button type="button" className="link-button" onClick={switchMethod}>
            {method === 'totp' ? 'Use a backup code instead' : 'Use your authenticator app instead'}
          </button>
        </p>
      ) : null}
      <p className="auth__alt">
        <button type="button" className="link-button" onClick={() => onExpired('Sign in again to start over.')}>
          Start over
        </button>
      </p>
    </>
  );
}
