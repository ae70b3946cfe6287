import { useState, type FormEvent } from 'react';
import { useAuth } from '../contexts/AuthContext';
import { usersApi } from '../services/usersApi';
import { Alert } from './Alert';
import { Button } from './Button';
import { ConfirmDialog } from './ConfirmDialog';
import { FormAlert } from './FormAlert';
import { PasswordField, TextField } from './Field';
import { ProofFields, useProof } from './ProofFields';
import { StatusBadge } from './StatusBadge';
import { useAsyncForm } from './useAsyncForm';

/**
 * The Security page's emergency freeze ("my phone was stolen") and, once frozen, the way out.
 * Freezing signs out every device, this one included, so the person lands on the sign-in page
 * with a message saying what happened and how to undo it.
 */
export function FreezeCard() {
  const { user } = useAuth();
  if (!user) return null;
  return (
    <section className="card" aria-labelledby="freeze-heading">
      <div className="card__header">
        <h2 id="freeze-heading" className="card__title">
          Emergency freeze
        </h2>
        {user.frozen ? <StatusBadge status="invalid" label="Frozen" /> : null}
      </div>
      {user.frozen ? <UnfreezeForm mfaEnabled={user.mfa_enabled} /> : <FreezeForm mfaEnabled={user.mfa_enabled} />}
    </section>
  );
}

function FreezeForm({ mfaEnabled }: { mfaEnabled: boolean }) {
  const { endSession } = useAuth();
  const [confirming, setConfirming] = useState(false);
  const form = useAsyncForm();
  const proof = useProof(form, 'password');

  const freeze = async () => {
    const result = await form.run(() => usersApi.freeze(proof.body), {
      codeToField: { invalid_password: 'value', invalid_mfa_code: 'value' },
      validate: proof.validate,
    });
    setConfirming(false);
    if (result.ok) endSession('frozen');
    else proof.clear();
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (proof.isEmpty) {
      void freeze(); // shows the inline error
      return;
    }
    setConfirming(true);
  };

  return (
    <>
      <p>
        Lost your phone, or think someone else is in your account? Freeze it: every device is signed out at once, and no
        one — you or anyone you share a trading account with — can trade until you unfreeze it.
      </p>
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form form--compact">
        <ProofFields
          name="freeze"
          choose={mfaEnabled}
          choiceLabels={{ code: 'Use a code', password: 'Use my password' }}
          codeLabel="Code from your app, or a backup code"
          passwordLabel="Your password"
          {...proof.fieldProps}
        >
          <FormAlert form={form} />
        </ProofFields>
        <Button type="submit" variant="danger" loading={form.submitting && !confirming}>
          Freeze my account
        </Button>
      </form>
      <ConfirmDialog
        open={confirming}
        title="Freeze your account?"
        confirmLabel="Freeze now"
        busy={form.submitting}
        onConfirm={() => void freeze()}
        onCancel={() => setConfirming(false)}
      >
        <p>You will be signed out here and on every other device. Trading stops until you unfreeze your account.</p>
      </ConfirmDialog>
    </>
  );
}

function UnfreezeForm({ mfaEnabled }: { mfaEnabled: boolean }) {
  const { refreshUser } = useAuth();
  const [sent, setSent] = useState(false);
  const form = useAsyncForm({ password: '', code: '' });
  const { password, code } = form.values;

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmedCode = code.replace(/\s+/g, '');
    const result = await form.run(
      () => usersApi.unfreeze(mfaEnabled ? { password, code: trimmedCode } : { password }),
      {
        codeToField: { invalid_password: 'password', invalid_mfa_code: 'code', second_factor_required: 'code' },
        validate: () => ({
          password: password ? undefined : 'Enter your password.',
          code:
            mfaEnabled && !trimmedCode ? 'Enter the code from your authenticator app, or a backup code.' : undefined,
        }),
      },
    );
    form.setValues({ password: '', code: '' });
    if (!result.ok) return;
    if (result.value.status === 'confirmation_sent') setSent(true);
    else await refreshUser();
  };

  if (sent) {
    return (
      <Alert tone="info" title="Check your e-mail.">
        We sent you a link to finish unfreezing. Open it while signed in here; it works once, for 30 minutes.
      </Alert>
    );
  }

  return (
    <>
      <Alert tone="warning" title="Your account is frozen.">
        Trading is off on all your trading accounts, including for people you share them with.
      </Alert>
      <p>
        {mfaEnabled
          ? 'To unfreeze, confirm with your password and a code from your authenticator app (or a backup code).'
          : 'To unfreeze, confirm with your password. Because two-factor authentication is off, we will also e-mail you a link to confirm.'}
      </p>
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form form--compact">
        <FormAlert form={form} />
        <PasswordField
          label="Your password"
          autoComplete="current-password"
          {...form.field('password')}
          name="unfreeze-password"
        />
        {mfaEnabled ? (
          <TextField
            label="Code from your app, or a backup code"
            autoComplete="one-time-code"
            className="input--code"
            {...form.field('code')}
            name="unfreeze-code"
          />
        ) : null}
        <Button type="submit" loading={form.submitting}>
          Unfreeze my account
        </Button>
      </form>
    </>
  );
}
