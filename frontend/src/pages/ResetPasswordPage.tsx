import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { LoadError } from '../components/LoadError';
import { PasswordField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { PasswordChecklist } from '../components/PasswordChecklist';
import { useAsyncForm } from '../components/useAsyncForm';
import { usePasswordPolicy } from '../components/usePasswordPolicy';
import { useAuth } from '../contexts/AuthContext';
import { authApi } from '../services/authApi';
import { toApiProblem } from '../services/errors';
import { queryKeys } from '../services/queries';
import { PageLoader } from '../components/Spinner';

/** What a dead e-mailed link says, by the service's `reason`. */
const DEAD_LINK = 'This link no longer works. Ask for a new one.';

export const LINK_REASONS: Record<string, string> = {
  token_used: 'This link was already used. If you did not change your password, ask for a new link.',
  token_replaced:
    'This link was replaced by a newer e-mail. Open the most recent e-mail from us, or ask for a new link.',
  token_expired: 'This link has expired: reset links work for 30 minutes. Ask for a new one.',
  token_invalid: DEAD_LINK,
};

export function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { status, endSession } = useAuth();
  const form = useAsyncForm({ new_password: '', confirm_password: '' });
  const { new_password: password, confirm_password: confirm } = form.values;
  const [touched, setTouched] = useState(false);
  const [done, setDone] = useState(false);
  const policy = usePasswordPolicy(password);
  // Checked before any form is shown: a used, replaced or expired link never shows one.
  const check = useQuery({
    queryKey: queryKeys.resetLink(token),
    // A query's data cannot be `undefined`: the answer is "the link works".
    queryFn: () => authApi.checkResetToken(token).then(() => true),
    enabled: Boolean(token),
  });

  if (!token) {
    return (
      <>
        <PageHeader title="Reset your password" />
        <Alert tone="error">
          This reset link is incomplete. Open the link from the email again, or ask for a new one.
        </Alert>
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
        <Alert tone="success">
          Your password was changed and every session was signed out. Sign in with the new password.
        </Alert>
        <Link className="btn btn--primary btn--block" to="/login">
          Sign in
        </Link>
      </>
    );
  }

  if (check.isPending) {
    return (
      <>
        <PageHeader title="Reset your password" />
        <PageLoader label="Checking your reset link…" />
      </>
    );
  }

  if (check.isError) {
    const problem = toApiProblem(check.error);
    const dead = problem.code === 'reset_token_invalid';
    return (
      <>
        <PageHeader title="Reset your password" />
        {dead ? (
          <>
            <Alert tone="error">{LINK_REASONS[problem.reason ?? ''] ?? DEAD_LINK}</Alert>
            <Link className="btn btn--primary btn--block" to="/forgot-password">
              Request a new link
            </Link>
          </>
        ) : (
          <LoadError error={check.error} loading={check.isFetching} onRetry={() => void check.refetch()} />
        )}
      </>
    );
  }

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    const result = await form.run(() => authApi.resetPassword(token, password), {
      codeToField: { weak_password: 'new_password' },
      messages: LINK_REASONS,
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
      <PageHeader
        title="Choose a new password"
        description="Signing in with the new password will work on every device."
      />
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
          autoComplete="new-password"
          {...form.field('new_password')}
          onBlur={() => password && setTouched(true)}
          error={form.fieldErrors.new_password ?? form.fieldErrors.password}
          aria-describedby="password-policy"
        />
        <PasswordChecklist id="password-policy" result={policy} touched={touched} />
        <PasswordField label="Confirm new password" autoComplete="new-password" {...form.field('confirm_password')} />
        <Button type="submit" block loading={form.submitting} disabled={form.waiting > 0}>
          Set new password
        </Button>
      </form>
    </>
  );
}
