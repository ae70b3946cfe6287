import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { PasswordField, TextField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { PasswordChecklist } from '../components/PasswordChecklist';
import { useAsyncForm } from '../components/useAsyncForm';
import { usePasswordPolicy } from '../components/usePasswordPolicy';
import { authApi } from '../services/authApi';

function browserTimezone(): string | undefined {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

export function RegisterPage() {
  const [touched, setTouched] = useState(false);
  const [registeredEmail, setRegisteredEmail] = useState<string | null>(null);
  const form = useAsyncForm({ name: '', email: '', password: '', confirm_password: '' });
  const { name, email, password, confirm_password: confirm } = form.values;
  const policy = usePasswordPolicy(password, [email, name]);

  if (registeredEmail) {
    return (
      <>
        <PageHeader title="Check your inbox" />
        <Alert tone="success">
          Your account was created. We sent a verification link to <strong>{registeredEmail}</strong>. Open it to
          confirm your address.
        </Alert>
        <p className="muted">The link works for 24 hours; you can ask for a new one after signing in.</p>
        <Link className="btn btn--primary btn--block" to="/login" state={{ email: registeredEmail }}>
          Continue to sign in
        </Link>
      </>
    );
  }

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    const result = await form.run(
      () =>
        authApi.register({
          name: name.trim(),
          email: email.trim(),
          password,
          timezone: browserTimezone() ?? null,
          locale: typeof navigator !== 'undefined' ? navigator.language : null,
        }),
      {
        codeToField: { email_already_registered: 'email', weak_password: 'password' },
        validate: () => {
          const errors: Record<string, string> = {};
          if (!name.trim()) errors.name = 'Enter your name.';
          if (!email.trim()) errors.email = 'Enter your email address.';
          else if (!/^\S+@\S+\.\S+$/.test(email.trim()))
            errors.email = 'Enter a valid email address, like name@example.com.';
          if (!password) errors.password = 'Choose a password.';
          else if (policy.checks.some((check) => check.met === false))
            errors.password = 'The password does not meet every requirement below.';
          if (!confirm) errors.confirm_password = 'Enter the password again.';
          else if (confirm !== password) errors.confirm_password = 'The passwords do not match.';
          return errors;
        },
      },
    );
    if (result.ok) setRegisteredEmail(result.value.email);
  };

  return (
    <>
      <PageHeader title="Create your account" description="One account for every Quantagro service." />
      <FormAlert form={form}>
        {form.problem?.code === 'email_already_registered' ? (
          <>
            {' '}
            <Link to="/login">Sign in</Link> or <Link to="/forgot-password">reset your password</Link>.
          </>
        ) : null}
      </FormAlert>
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
        <TextField label="Full name" autoComplete="name" {...form.field('name')} required />
        <TextField
          label="Email"
          type="email"
          autoComplete="email"
          inputMode="email"
          {...form.field('email')}
          required
        />
        <PasswordField
          label="Password"
          autoComplete="new-password"
          {...form.field('password')}
          onBlur={() => password && setTouched(true)}
          aria-describedby="password-policy"
          required
        />
        <PasswordChecklist id="password-policy" result={policy} touched={touched} />
        <PasswordField
          label="Confirm password"
          autoComplete="new-password"
          {...form.field('confirm_password')}
          required
        />
        <Button type="submit" block loading={form.submitting} disabled={form.waiting > 0}>
          {form.submitting ? 'Creating account…' : 'Create account'}
        </Button>
      </form>
      <p className="auth__alt">
        Already have an account? <Link to="/login">Sign in</Link>
      </p>
    </>
  );
}
