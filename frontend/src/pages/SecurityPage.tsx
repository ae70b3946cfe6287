import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { TotpSetupResponse } from '../api/types';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { FreezeCard } from '../components/FreezeCard';
import { LinkedIdentitiesCard } from '../components/LinkedIdentitiesCard';
import { CopyButton } from '../components/CopyButton';
import { TextField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { ProofFields, useProof } from '../components/ProofFields';
import { StatusBadge } from '../components/StatusBadge';
import { useAsyncForm } from '../components/useAsyncForm';
import { useAuth } from '../contexts/AuthContext';
import { mfaApi } from '../services/mfaApi';

function groupSecret(secret: string): string {
  return secret.replace(/(.{4})/g, '$1 ').trim();
}

function codeError(code: string): Record<string, string> {
  const value = code.replace(/\s+/g, '');
  if (!value) return { code: 'Enter the 6-digit code from your authenticator app.' };
  return {};
}

export function SecurityPage() {
  const { user, refreshUser } = useAuth();
  const [backupCodes, setBackupCodes] = useState<{ codes: string[]; reason: 'enabled' | 'regenerated' } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  if (!user) return null;

  const showCodes = (codes: string[], reason: 'enabled' | 'regenerated') => {
    setNotice(null);
    setBackupCodes({ codes, reason });
  };

  return (
    <>
      <PageHeader title="Security" description="Protect your account with a second factor and a strong password." />
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      {backupCodes ? (
        <BackupCodesPanel
          codes={backupCodes.codes}
          reason={backupCodes.reason}
          onDone={() => {
            setBackupCodes(null);
            setNotice(
              backupCodes.reason === 'enabled'
                ? 'Two-factor authentication is on. You will be asked for a code when you sign in.'
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
            <StatusBadge status={user.mfa_enabled ? 'active' : 'pending'} label={user.mfa_enabled ? 'On' : 'Off'} />
          </div>
          {user.mfa_enabled ? (
            <MfaManagement
              onRegenerated={(codes) => showCodes(codes, 'regenerated')}
              onDisabled={async () => {
                await refreshUser();
                setNotice('Two-factor authentication is off. Turn it back on to keep your account safer.');
              }}
            />
          ) : (
            <MfaEnrollment
              onEnabled={async (codes) => {
                showCodes(codes, 'enabled');
                await refreshUser();
              }}
            />
          )}
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

function MfaEnrollment({ onEnabled }: { onEnabled(codes: string[]): Promise<void> }) {
  const [setup, setSetup] = useState<TotpSetupResponse | null>(null);
  const [code, setCode] = useState('');
  const startForm = useAsyncForm();
  const form = useAsyncForm();
  const setupHeading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (setup) setupHeading.current?.focus();
  }, [setup]);

  const start = async () => {
    const result = await startForm.run(() => mfaApi.setup());
    if (result.ok) setSetup(result.value);
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const value = code.replace(/\s+/g, '');
    const result = await form.run(() => mfaApi.enable(value), {
      codeToField: { invalid_mfa_code: 'code' },
      validate: () => codeError(code),
    });
    if (result.ok) await onEnabled(result.value.backup_codes);
    else setCode('');
  };

  if (!setup) {
    return (
      <>
        <p>
          Add a second step to signing in: a 6-digit code from an authenticator app such as Google Authenticator,
          Microsoft Authenticator, 1Password or Aegis. Trading actions may ask for it again.
        </p>
        <FormAlert form={startForm} />
        <Button onClick={start} loading={startForm.submitting}>
          Set up two-factor authentication
        </Button>
      </>
    );
  }

  return (
    <div className="mfa-setup">
      <h3 ref={setupHeading} tabIndex={-1} className="section-title">
        Scan the QR code
      </h3>
      <ol className="steps">
        <li>Open your authenticator app and add an account by scanning this code.</li>
        <li>Enter the 6-digit code the app shows to finish.</li>
      </ol>
      <div className="mfa-setup__grid">
        <figure className="qr">
          <img src={setup.qr_code_uri} alt="QR code for adding Quantagro to your authenticator app" width={200} height={200} />
        </figure>
        <div>
          <p className="muted">Can’t scan? Enter this key by hand (time-based, 6 digits, 30 seconds):</p>
          <p className="secret">
            <code data-testid="totp-secret" aria-label="Setup key">
              {groupSecret(setup.secret)}
            </code>
          </p>
          <CopyButton text={setup.secret} label="Copy key" />
          <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form form--compact">
            <FormAlert form={form} />
            <TextField
              label="Code from the app"
              name="code"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={7}
              className="input--code"
              value={code}
              onChange={(e) => {
                setCode(e.target.value);
                form.clearField('code');
              }}
              error={form.fieldErrors.code}
            />
            <Button type="submit" loading={form.submitting}>
              Turn on two-factor authentication
            </Button>
          </form>
        </div>
      </div>
    </div>
  );
}

function MfaManagement({
  onRegenerated,
  onDisabled,
}: {
  onRegenerated(codes: string[]): void;
  onDisabled(): Promise<void>;
}) {
  return (
    <>
      <p>Your account asks for a code from your authenticator app (or a backup code) when you sign in.</p>
      <div className="split">
        <RegenerateForm onRegenerated={onRegenerated} />
        <DisableForm onDisabled={onDisabled} />
      </div>
    </>
  );
}

function RegenerateForm({ onRegenerated }: { onRegenerated(codes: string[]): void }) {
  const [code, setCode] = useState('');
  const form = useAsyncForm();
  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(() => mfaApi.regenerateBackupCodes(code.replace(/\s+/g, '')), {
      codeToField: { invalid_mfa_code: 'code' },
      validate: () => codeError(code),
    });
    if (result.ok) onRegenerated(result.value.backup_codes);
    else setCode('');
  };
  return (
    <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form subcard" aria-labelledby="regen-heading">
      <h3 id="regen-heading" className="section-title">
        New backup codes
      </h3>
      <p className="muted">Lost your codes or used most of them? Get ten new ones; the old ones stop working.</p>
      <FormAlert form={form} />
      <TextField
        label="Code from your authenticator app"
        name="code"
        inputMode="numeric"
        autoComplete="one-time-code"
        className="input--code"
        value={code}
        onChange={(e) => {
          setCode(e.target.value);
          form.clearField('code');
        }}
        error={form.fieldErrors.code}
      />
      <Button type="submit" variant="secondary" loading={form.submitting}>
        Generate new backup codes
      </Button>
    </form>
  );
}

function DisableForm({ onDisabled }: { onDisabled(): Promise<void> }) {
  const form = useAsyncForm();
  const proof = useProof(form, 'code');
  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(() => mfaApi.disable(proof.body), {
      codeToField: { invalid_mfa_code: 'value', invalid_credentials: 'value', invalid_password: 'value' },
      validate: proof.validate,
    });
    if (result.ok) await onDisabled();
    else proof.clear();
  };
  return (
    <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form subcard" aria-labelledby="disable-heading">
      <h3 id="disable-heading" className="section-title">
        Turn off two-factor authentication
      </h3>
      <ProofFields
        name="disable"
        choose
        choiceLabels={{ code: 'Code', password: 'Password' }}
        codeLabel="Authenticator or backup code"
        passwordLabel="Current password"
        {...proof.fieldProps}
      >
        <FormAlert form={form} />
      </ProofFields>
      <Button type="submit" variant="danger" loading={form.submitting}>
        Turn off
      </Button>
    </form>
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
