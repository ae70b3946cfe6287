import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { TextField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { useAsyncForm } from '../components/useAsyncForm';
import { authApi } from '../services/authApi';

export function ForgotPasswordPage() {
  const [sentTo, setSentTo] = useState<string | null>(null);
  const form = useAsyncForm({ email: '' });

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const value = form.values.email.trim();
    const result = await form.run(() => authApi.requestPasswordReset(value), {
      validate: () =>
        !value
          ? { email: 'Enter your email address.' }
          : !/^\S+@\S+\.\S+$/.test(value)
            ? { email: 'Enter a valid email address, like name@example.com.' }
            : {},
    });
    if (result.ok) setSentTo(value);
  };

  if (sentTo) {
    return (
      <>
        <PageHeader title="Check your email" />
        <Alert tone="success">
          If an account exists for <strong>{sentTo}</strong>, we have sent it a link to reset the password. The link
          works once and expires in 30 minutes.
        </Alert>
        <p className="auth__alt">
          <Link to="/login">Back to sign in</Link>
        </p>
      </>
    );
  }

  return (
    <>
      <PageHeader
        title="Reset your password"
        description="Enter the email of your account and we will send you a reset link."
      />
      <FormAlert form={form} />
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
        <TextField
          label="Email"
          type="email"
          autoComplete="email"
          inputMode="email"
          {...form.field('email')}
          required
        />
        <Button type="submit" block loading={form.submitting} disabled={form.waiting > 0}>
          Send reset link
        </Button>
      </form>
      <p className="auth__alt">
        Remembered it? <Link to="/login">Back to sign in</Link>
      </p>
    </>
  );
}
