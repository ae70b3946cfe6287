import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
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

export function ChangePasswordPage() {
  const { user } = useAuth();
  const form = useAsyncForm({ current_password: '', new_password: '', confirm_password: '' });
  const { current_password: current, new_password: next, confirm_password: confirm } = form.values;
  const [touched, setTouched] = useState(false);
  const [done, setDone] = useState(false);
  const policy = usePasswordPolicy(next, [user?.email ?? '', user?.name ?? '']);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    const result = await form.run(() => authApi.changePassword(current, next), {
      codeToField: {
        invalid_credentials: 'current_password',
        invalid_password: 'current_password',
        weak_password: 'new_password',
      },
      messages: {
        invalid_credentials: 'The current password is not correct.',
        invalid_password: 'The current password is not correct.',
      },
      validate: () => {
        const errors: Record<string, string> = {};
        if (!current) errors.current_password = 'Enter your current password.';
        if (!next) errors.new_password = 'Choose a new password.';
        else if (policy.checks.some((check) => check.met === false))
          errors.new_password = 'The password does not meet every requirement below.';
        else if (next === current) errors.new_password = 'Choose a password different from the current one.';
        if (confirm !== next) errors.confirm_password = 'The passwords do not match.';
        return errors;
      },
    });
    if (result.ok) {
      setDone(true);
      form.setValues({ current_password: '', new_password: '', confirm_password: '' });
      setTouched(false);
    }
  };

  return (
    <>
      <PageHeader
        title="Change password"
        description="Your other sessions will be signed out; this one stays signed in."
      />
      {done ? (
        <Alert tone="success">
          Your password was changed and your other sessions were signed out.{' '}
          <Link to="/security">Back to security</Link>
        </Alert>
      ) : null}
      <section className="card card--narrow">
        <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
          <FormAlert form={form} />
          <input type="text" name="username" autoComplete="username" value={user?.email ?? ''} readOnly hidden />
          <PasswordField
            label="Current password"
            autoComplete="current-password"
            {...form.field('current_password', { onChange: () => setDone(false) })}
          />
          <PasswordField
            label="New password"
            autoComplete="new-password"
            {...form.field('new_password')}
            onBlur={() => next && setTouched(true)}
            aria-describedby="password-policy"
          />
          <PasswordChecklist id="password-policy" result={policy} touched={touched} />
          <PasswordField label="Confirm new password" autoComplete="new-password" {...form.field('confirm_password')} />
          <div className="form__actions">
            <Button type="submit" loading={form.submitting} disabled={form.waiting > 0}>
              Change password
            </Button>
            <Link to="/security" className="btn btn--ghost">
              Cancel
            </Link>
          </div>
        </form>
      </section>
    </>
  );
}
