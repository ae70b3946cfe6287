import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { Factor, FactorList, TotpSetupResponse } from '../api/types';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { CopyButton } from '../components/CopyButton';
import { PasswordField, TextField } from '../components/Field';
import { FormAlert } from '../components/FormAlert';
import { FreezeCard } from '../components/FreezeCard';
import { LinkedIdentitiesCard } from '../components/LinkedIdentitiesCard';
import { LoadError } from '../components/LoadError';
import { PageHeader } from '../components/PageHeader';
import { StatusBadge } from '../components/StatusBadge';
import { formatDate, formatRelative } from '../components/format';
import { useAsyncForm } from '../components/useAsyncForm';
import { useAuth } from '../contexts/AuthContext';
import { toApiProblem } from '../services/errors';
import { mfaApi } from '../services/mfaApi';
import { isWebAuthnCancel, passkeyApi } from '../services/passkeyApi';
import { queryKeys, useFactorsQuery } from '../services/queries';

/** How long the page trusts a password it just asked for (the server allows 5 minutes). */
const RECENT_AUTH_MS = 4 * 60 * 1000;
const LOW_BACKUP_CODES = 3;

function groupSecret(secret: string): string {
  return secret.replace(/(.{4})/g, '$1 ').trim();
}

function codeError(code: string): Record<string, string> {
  const value = code.replace(/\s+/g, '');
  if (!value) return { code: 'Enter the 6-digit code from your authenticator app.' };
  if (!/^\d{6}$/.test(value) && !/^[a-z0-9]{5}-?[a-z0-9]{5}$/i.test(value)) return { code: 'A code has 6 digits.' };
  return {};
}

type Confirm = () => Promise<boolean>;

/**
 * "Enter your password again" before enrolling or removing a factor (the recent-authentication
 * rule, docs/passkeys.md). `confirm()` resolves true once the server accepted the password (or
 * it did so in the last few minutes), false when the user cancels.
 */
function useRecentAuth() {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const confirmedAt = useRef(0);
  const pending = useRef<((ok: boolean) => void) | null>(null);

  const close = (ok: boolean) => {
    pending.current?.(ok);
    pending.current = null;
    setOpen(false);
    setPassword('');
    setError(null);
  };

  const confirm = useCallback<Confirm>(
    () =>
      new Promise<boolean>((resolve) => {
        if (Date.now() - confirmedAt.current < RECENT_AUTH_MS) return resolve(true);
        pending.current = resolve;
        setOpen(true);
      }),
    [],
  );

  const submit = async () => {
    if (!password) {
      setError('Enter your password.');
      return;
    }
    setBusy(true);
    try {
      await mfaApi.reauthenticate({ password });
      confirmedAt.current = Date.now();
      close(true);
    } catch (failure) {
      setError(toApiProblem(failure).message);
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  /** Run `action` after the password check; asks once more if the server says it is stale. */
  const guarded = async <T,>(action: () => Promise<T>): Promise<T | null> => {
    if (!(await confirm())) return null;
    try {
      return await action();
    } catch (failure) {
      if (toApiProblem(failure).code !== 'recent_auth_required') throw failure;
      confirmedAt.current = 0;
      if (!(await confirm())) return null;
      return action();
    }
  };

  const dialog = (
    <ConfirmDialog
      open={open}
      title="Confirm it’s you"
      confirmLabel="Continue"
      tone="primary"
      busy={busy}
      onConfirm={submit}
      onCancel={() => close(false)}
    >
      <p>Changing how you sign in needs your password again.</p>
      {error ? <Alert tone="error">{error}</Alert> : null}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <PasswordField
          label="Current password"
          name="reauth-password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => {
            setPassword(e.target.value);
            setError(null);
          }}
        />
      </form>
    </ConfirmDialog>
  );
  return { guarded, dialog };
}

type Guard = ReturnType<typeof useRecentAuth>['guarded'];

export function SecurityPage() {
  const { user, refreshUser } = useAuth();
  const [backupCodes, setBackupCodes] = useState<{ codes: string[]; reason: 'enabled' | 'regenerated' } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const factors = useFactorsQuery();
  const list = factors.data;
  const recentAuth = useRecentAuth();

  if (!user) return null;

  const reload = () => queryClient.invalidateQueries({ queryKey: queryKeys.factors });

  const changed = async (message: string | null, codes?: string[]) => {
    await Promise.all([reload(), refreshUser()]);
    if (codes && codes.length > 0) {
      setNotice(null);
      setBackupCodes({ codes, reason: 'enabled' });
    } else {
      setNotice(message);
    }
  };

  const enabled = Boolean(list?.mfa_enabled ?? user.mfa_enabled);

  return (
    <>
      <PageHeader title="Security" description="Protect your account with a second factor and a strong password." />
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      {recentAuth.dialog}
      {backupCodes ? (
        <BackupCodesPanel
          codes={backupCodes.codes}
          reason={backupCodes.reason}
          onDone={() => {
            setBackupCodes(null);
            setNotice(
              backupCodes.reason === 'enabled'
                ? 'Two-factor authentication is on. You will be asked for a second factor when you sign in.'
                : 'New backup codes are active; the old ones no longer work.',
            );
          }}
        />
      ) : (
        <section className="card" aria-labelledby="mfa-heading">
          <div className="card__header">
            <h2 id="mfa-heading" className="card__title">
              Two-factor authentication
            </h2>
            <StatusBadge status={enabled ? 'active' : 'pending'} label={enabled ? 'On' : 'Off'} />
          </div>
          <p>
            A second step when you sign in: a passkey (your phone, laptop or security key) or a 6-digit code from an
            authenticator app. Trading actions may ask for it again. You can keep several, each with its own name.
          </p>
          {factors.isError ? <LoadError error={factors.error} onRetry={() => void factors.refetch()} /> : null}
          {list ? (
            <>
              <FactorsList list={list} guarded={recentAuth.guarded} onChanged={(message) => void changed(message)} />
              <AddFactor guarded={recentAuth.guarded} onAdded={(message, codes) => void changed(message, codes)} />
              {list.mfa_enabled ? (
                <BackupCodesStatus
                  remaining={list.backup_codes_remaining}
                  hasPasskey={list.factors.some((f) => f.type === 'passkey')}
                  hasTotp={list.factors.some((f) => f.type === 'totp')}
                  onRegenerated={(codes) => {
                    setNotice(null);
                    setBackupCodes({ codes, reason: 'regenerated' });
                    void reload();
                  }}
                />
              ) : null}
            </>
          ) : null}
        </section>
      )}
      <section className="card" aria-labelledby="password-heading">
        <div className="card__header">
          <h2 id="password-heading" className="card__title">
            Password
          </h2>
        </div>
        <p className="muted">Changing your password signs you out everywhere else.</p>
        <Link to="/change-password" className="btn btn--secondary">
          Change password
        </Link>
      </section>
      <LinkedIdentitiesCard />
      <FreezeCard />
    </>
  );
}

const TYPE_LABEL: Record<Factor['type'], string> = { totp: 'Authenticator app', passkey: 'Passkey' };

function FactorsList({
  list,
  guarded,
  onChanged,
}: {
  list: FactorList;
  guarded: Guard;
  onChanged(message: string | null): void;
}) {
  const [renaming, setRenaming] = useState<string | null>(null);
  const [removing, setRemoving] = useState<Factor | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const last = list.factors.length === 1;

  if (list.factors.length === 0) return <p className="muted">No second factor yet.</p>;

  const remove = async () => {
    if (!removing) return;
    setBusy(true);
    setError(null);
    try {
      const factor = removing;
      setRemoving(null);
      const result = await guarded(() => mfaApi.removeFactor(factor.id));
      if (result) {
        onChanged(
          result.mfa_enabled
            ? `“${factor.name}” was removed.`
            : `“${factor.name}” was removed. Two-factor authentication is off.`,
        );
      }
    } catch (failure) {
      setError(toApiProblem(failure).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      {error ? <Alert tone="error">{error}</Alert> : null}
      <ul className="factor-list" aria-label="Your authenticators">
        {list.factors.map((factor) => (
          <li key={factor.id} className="factor-list__item subcard">
            {renaming === factor.id ? (
              <RenameForm
                factor={factor}
                onDone={(renamed) => {
                  setRenaming(null);
                  if (renamed) onChanged(`Renamed to “${renamed}”.`);
                }}
              />
            ) : (
              <>
                <div>
                  <strong className="factor-list__name">{factor.name}</strong>{' '}
                  <span className="muted">· {TYPE_LABEL[factor.type]}</span>
                  <div className="muted small">
                    Added {formatDate(factor.created_at)} ·{' '}
                    {factor.last_used_at ? `last used ${formatRelative(factor.last_used_at)}` : 'not used yet'}
                  </div>
                </div>
                <div className="form__actions">
                  <Button
                    variant="ghost"
                    size="sm"
                    onClick={() => setRenaming(factor.id)}
                    aria-label={`Rename ${factor.name}`}
                  >
                    Rename
                  </Button>
                  <Button
                    variant="danger-ghost"
                    size="sm"
                    onClick={() => setRemoving(factor)}
                    disabled={busy || (last && list.mfa_required)}
                    aria-label={`Remove ${factor.name}`}
                  >
                    Remove
                  </Button>
                </div>
              </>
            )}
          </li>
        ))}
      </ul>
      {last && list.mfa_required ? (
        <p className="muted">Your account must keep a second factor: add another one before removing this one.</p>
      ) : null}
      <ConfirmDialog
        open={removing !== null}
        title={`Remove “${removing?.name ?? ''}”?`}
        confirmLabel={last ? 'Remove and turn off' : 'Remove'}
        busy={busy}
        onConfirm={() => void remove()}
        onCancel={() => setRemoving(null)}
      >
        <p>
          {last
            ? 'This is your only second factor: removing it turns two-factor authentication off, and your backup codes stop working.'
            : 'It will no longer work for signing in. Your other authenticators and backup codes keep working.'}{' '}
          Other devices signed in to your account will be signed out.
        </p>
      </ConfirmDialog>
    </>
  );
}

function RenameForm({ factor, onDone }: { factor: Factor; onDone(renamed: string | null): void }) {
  const form = useAsyncForm({ name: factor.name });
  const { name } = form.values;
  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(() => mfaApi.renameFactor(factor.id, name.trim()), {
      validate: () => (name.trim() ? {} : { name: 'Enter a name, like “work phone”.' }),
    });
    if (result.ok) onDone(result.value.name);
  };
  return (
    <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form form--compact">
      <FormAlert form={form} />
      <TextField label={`New name for “${factor.name}”`} maxLength={64} {...form.field('name')} name="factor-name" />
      <div className="form__actions">
        <Button type="submit" size="sm" loading={form.submitting}>
          Save
        </Button>
        <Button type="button" size="sm" variant="secondary" onClick={() => onDone(null)}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

function AddFactor({ guarded, onAdded }: { guarded: Guard; onAdded(message: string, codes: string[]): void }) {
  const [adding, setAdding] = useState<'totp' | 'passkey' | null>(null);
  const [setup, setSetup] = useState<TotpSetupResponse | null>(null);
  const form = useAsyncForm({ name: '' });
  const { name } = form.values;

  const reset = () => {
    setAdding(null);
    setSetup(null);
    form.setValue('name', '');
    form.reset();
  };

  const start = async (event: FormEvent) => {
    event.preventDefault();
    const label = name.trim();
    if (adding === 'totp') {
      const result = await form.run(() => guarded(() => mfaApi.setup(label)));
      if (result.ok && result.value) setSetup(result.value);
      return;
    }
    const result = await form.run(async () => {
      try {
        return await guarded(() => passkeyApi.register(label || 'Passkey'));
      } catch (failure) {
        if (isWebAuthnCancel(failure)) throw new Error('No passkey was created. Try again when you are ready.');
        throw failure;
      }
    });
    if (result.ok && result.value) {
      const registered = result.value;
      reset();
      onAdded(`Passkey “${registered.factor.name}” added.`, registered.backup_codes);
    }
  };

  if (setup) {
    return (
      <TotpEnrollment
        setup={setup}
        onCancel={reset}
        onEnabled={(codes) => {
          const label = name.trim() || 'Authenticator app';
          reset();
          onAdded(`Authenticator app “${label}” added.`, codes);
        }}
      />
    );
  }

  if (!adding) {
    return (
      <div className="form__actions">
        {passkeyApi.supported() ? <Button onClick={() => setAdding('passkey')}>Add a passkey</Button> : null}
        <Button variant="secondary" onClick={() => setAdding('totp')}>
          Add an authenticator app
        </Button>
      </div>
    );
  }

  return (
    <form
      ref={form.formRef}
      onSubmit={start}
      noValidate
      className="form form--compact subcard"
      aria-labelledby="add-heading"
    >
      <h3 id="add-heading" className="section-title">
        {adding === 'passkey' ? 'Add a passkey' : 'Add an authenticator app'}
      </h3>
      <FormAlert form={form} />
      <TextField
        label="Name"
        hint={
          adding === 'passkey' ? 'So you can tell it apart, e.g. “YubiKey” or “MacBook”.' : 'For example “work phone”.'
        }
        maxLength={64}
        {...form.field('name')}
        name="new-factor-name"
      />
      <div className="form__actions">
        <Button type="submit" loading={form.submitting}>
          {adding === 'passkey' ? 'Create passkey' : 'Continue'}
        </Button>
        <Button type="button" variant="secondary" onClick={reset}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

function TotpEnrollment({
  setup,
  onEnabled,
  onCancel,
}: {
  setup: TotpSetupResponse;
  onEnabled(codes: string[]): void;
  onCancel(): void;
}) {
  const form = useAsyncForm({ code: '' });
  const { code } = form.values;
  const setupHeading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    setupHeading.current?.focus();
  }, []);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const value = code.replace(/\s+/g, '');
    const result = await form.run(() => mfaApi.enable(value), {
      codeToField: { invalid_mfa_code: 'code' },
      validate: () => (/^\d{6}$/.test(value) ? {} : { code: 'Enter the 6-digit code from your authenticator app.' }),
    });
    if (result.ok) onEnabled(result.value.backup_codes);
    else form.setValue('code', '');
  };

  return (
    <div className="mfa-setup subcard">
      <h3 ref={setupHeading} tabIndex={-1} className="section-title">
        Scan the QR code
      </h3>
      <ol className="steps">
        <li>Open your authenticator app and add an account by scanning this code.</li>
        <li>Enter the 6-digit code the app shows to finish.</li>
      </ol>
      <div className="mfa-setup__grid">
        <figure className="qr">
          <img
            src={setup.qr_code_uri}
            alt="QR code for adding Quantagro to your authenticator app"
            width={200}
            height={200}
          />
        </figure>
        <div>
          <p className="muted">Can’t scan? Enter this key by hand (time-based, 6 digits, 30 seconds):</p>
          <p className="secret">
            <code data-testid="totp-secret">{groupSecret(setup.secret)}</code>
          </p>
          <CopyButton text={setup.secret} label="Copy key" />
          <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form form--compact">
            <FormAlert form={form} />
            <TextField
              label="Code from the app"
              inputMode="numeric"
              autoComplete="one-time-code"
              pattern="[0-9]*"
              maxLength={7}
              size={7}
              className="input--code input--six"
              {...form.field('code')}
            />
            <div className="form__actions">
              <Button type="submit" loading={form.submitting}>
                Turn on
              </Button>
              <Button type="button" variant="secondary" onClick={onCancel}>
                Cancel
              </Button>
            </div>
          </form>
        </div>
      </div>
    </div>
  );
}

function BackupCodesStatus({
  remaining,
  hasPasskey,
  hasTotp,
  onRegenerated,
}: {
  remaining: number;
  hasPasskey: boolean;
  hasTotp: boolean;
  onRegenerated(codes: string[]): void;
}) {
  const form = useAsyncForm({ code: '' });
  const { code } = form.values;
  const low = remaining <= LOW_BACKUP_CODES;

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(() => mfaApi.regenerateBackupCodes(code.replace(/\s+/g, '')), {
      codeToField: { invalid_mfa_code: 'code' },
      validate: () => codeError(code),
    });
    if (result.ok) onRegenerated(result.value.backup_codes);
    else form.setValue('code', '');
  };

  const withPasskey = async () => {
    const result = await form.run(async () => {
      try {
        await passkeyApi.stepUp();
      } catch (failure) {
        if (isWebAuthnCancel(failure)) throw new Error('No passkey was used.');
        throw failure;
      }
      return mfaApi.regenerateBackupCodes();
    });
    if (result.ok) onRegenerated(result.value.backup_codes);
  };

  return (
    <section className="subcard" aria-labelledby="backup-status-heading">
      <h3 id="backup-status-heading" className="section-title">
        Backup codes
      </h3>
      <p data-testid="backup-codes-remaining">
        {remaining === 0
          ? 'You have no backup codes left.'
          : `${remaining} backup code${remaining === 1 ? '' : 's'} left. Each works once if you lose your authenticators.`}
      </p>
      {low ? <Alert tone="warning">You are running out of backup codes. Create a new set now.</Alert> : null}
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form form--compact">
        <FormAlert form={form} />
        {hasTotp ? (
          <>
            <TextField
              label="Code from your authenticator app"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={11}
              size={11}
              className="input--code"
              {...form.field('code')}
              name="regen-code"
            />
            <Button type="submit" variant="secondary" loading={form.submitting}>
              Generate new backup codes
            </Button>
          </>
        ) : null}
        {hasPasskey ? (
          <Button type="button" variant="secondary" loading={form.submitting} onClick={() => void withPasskey()}>
            {hasTotp ? 'Or confirm with a passkey' : 'Confirm with a passkey and generate new codes'}
          </Button>
        ) : null}
      </form>
    </section>
  );
}

function BackupCodesPanel({
  codes,
  reason,
  onDone,
}: {
  codes: string[];
  reason: 'enabled' | 'regenerated';
  onDone(): void;
}) {
  const [confirmed, setConfirmed] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const text = codes.join('\n');

  useEffect(() => {
    heading.current?.focus();
  }, []);

  const download = () => {
    const content = `Quantagro backup codes\nGenerated ${new Date().toISOString()}\nEach code works once.\n\n${text}\n`;
    const blob = new Blob([content], { type: 'text/plain;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const anchor = document.createElement('a');
    anchor.href = url;
    anchor.download = 'quantagro-backup-codes.txt';
    document.body.appendChild(anchor);
    anchor.click();
    anchor.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  return (
    <section className="card card--highlight" aria-labelledby="backup-heading">
      <h2 ref={heading} tabIndex={-1} id="backup-heading" className="card__title">
        {reason === 'enabled' ? 'Two-factor authentication is on — save your backup codes' : 'Your new backup codes'}
      </h2>
      <Alert tone="warning">
        These codes are shown only once. Keep them somewhere safe: each one lets you sign in a single time if you lose
        your phone.
      </Alert>
      <ol className="backup-codes" aria-label="Backup codes" data-testid="backup-codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ol>
      <div className="form__actions">
        <CopyButton text={text} label="Copy all" size="md" />
        <Button variant="secondary" onClick={download}>
          Download .txt
        </Button>
      </div>
      <label className="checkbox">
        <input type="checkbox" checked={confirmed} onChange={(e) => setConfirmed(e.target.checked)} />
        <span>I have saved these codes somewhere safe</span>
      </label>
      <Button onClick={onDone} disabled={!confirmed}>
        Done
      </Button>
    </section>
  );
}
