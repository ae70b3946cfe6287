import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { PasswordField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { PasswordChecklist } from '../components/PasswordChecklist';
import { useAsyncForm } from '../components/useAsyncForm';
import { usePasswordPolicy } from '../components/usePasswordPolicy';
import { useAuth } from '../contexts/AuthContext';
import { authApi } from '../services/authApi';

export function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { status, endSession } = useAuth();
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [touched, setTouched] = useState(false);
  const [done, setDone] = useState(false);
  const form = useAsyncForm();
  const policy = usePasswordPolicy(password);

  if (!token) {
    return (
      <>
        <PageHeader title="Reset your password" />
        <Alert tone="error">This reset link is incomplete. Open the link from the email again, or ask for a new one.</Alert>
        <Link className="btn btn--primary btn--block" to="/forgot-password">
          Request a new link
        </Link>
      </>
    );
  }

  if (done) {
    return (
      <>
        <PageHeader title="Password changed" />
        <Alert tone="success">Your password was changed and every session was signed out. Sign in with the new password.</Alert>
        <Link className="btn btn--primary btn--block" to="/login">
          Sign in
        </Link>
      </>
    );
  }

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    const result = await form.run(() => authApi.resetPassword(token, password), {
      codeToField: { weak_password: 'new_password' },
      validate: () => {
        const errors: Record<string, string> = {};
        if (!password) errors.new_password = 'Choose a new password.';
        else if (policy.checks.some((check) => check.met === false))
          errors.new_password = 'The password does not meet every requirement below.';
        if (confirm !== password) errors.confirm_password = 'The passwords do not match.';
        return errors;
      },
    });
    if (result.ok) {
      // Every session was revoked by the reset, including this browser's.
      if (status === 'authenticated') endSession(null);
      setDone(true);
    }
  };

  return (
    <>
      <PageHeader title="Choose a new password" description="Signing in with the new password will work on every device." />
      <FormAlert form={form}>
        {form.problem?.code === 'reset_token_invalid' ? (
          <>
            {' '}
            <Link to="/forgot-password">Request a new link</Link>.
          </>
        ) : null}
      </FormAlert>
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
        <PasswordField
          label="New password"
          name="new_password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => {
            setPassword(e.target.value);
            form.clearField('new_password');
          }}
          onBlur={() => password && setTouched(true)}
          error={form.fieldErrors.new_password ?? form.fieldErrors.password}
          aria-describedby="password-policy"
        />
        <PasswordChecklist id="password-policy" result={policy} touched={touched} />
        <PasswordField
          label="Confirm new password"
          name="confirm_password"
          autoComplete="new-password"
          value={confirm}
          onChange={(e) => {
            setConfirm(e.target.value);
            form.clearField('confirm_password');
          }}
          error={form.fieldErrors.confirm_password}
        />
        <Button type="submit" block loading={form.submitting}>
          Set new password
        </Button>
      </form>
    </>
  );
}
