import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useState, type FormEvent } from 'react';
import { CopyButton } from '../components/CopyButton';
import { useAuth } from '../contexts/AuthContext';
import { useLocation, useNavigate } from 'react-router';
import type { AccountPermission, TradingAccount, TradingAccountMember } from '../api/types';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { FormAlert } from '../components/FormAlert';
import { LoadError } from '../components/LoadError';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { PasswordField, TextField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { PageLoader } from '../components/Spinner';
import { StatusBadge } from '../components/StatusBadge';
import { formatDate, formatDateTime } from '../components/format';
import { useAsyncForm } from '../components/useAsyncForm';
import { messageForCode, toApiProblem } from '../services/errors';
import { queryKeys, useMembersQuery, useTradingAccountsQuery } from '../services/queries';
import { tradingAccountsApi } from '../services/tradingAccountsApi';

/** Non-secret key: which account a Kite login round trip belongs to. */
export const KITE_PENDING_ACCOUNT_KEY = 'quantagro.kite.pendingAccount';

const PERMISSIONS: { id: AccountPermission; label: string; hint: string }[] = [
  { id: 'view', label: 'View', hint: 'See positions and orders' },
  { id: 'trade', label: 'Trade', hint: 'Place and modify orders' },
  { id: 'manage', label: 'Manage', hint: 'Credentials, sharing, unlinking' },
];

/** "View, Trade" — the permissions as the share form names them, never their codes. */
export function permissionNames(permissions: readonly string[]): string {
  return permissions.map((id) => PERMISSIONS.find((p) => p.id === id)?.label ?? id).join(', ');
}

function canManage(account: TradingAccount): boolean {
  return account.role === 'owner' || account.permissions?.includes('manage');
}

/** `datetime-local` value (the trader's own clock) → ISO 8601 with the offset, or `undefined`. */
export function expiryToIso(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** Where Kite sends the trader back: paste it as the Redirect URL of the Kite Connect app. */
export function kiteRedirectUrl(): string {
  return `${window.location.origin}/trading-accounts/kite/callback`;
}

/** What the card says about the broker session (never a status code). */
export function sessionSummary(account: TradingAccount): {
  needsConnection: boolean;
  hasSession: boolean;
  text: string | null;
} {
  if (account.status === 'expired') {
    return {
      needsConnection: true,
      hasSession: false,
      text: 'Kite ends sessions daily at 6:00 — reconnect to trade today.',
    };
  }
  if (account.status === 'invalid') {
    return {
      needsConnection: true,
      hasSession: false,
      text: 'Kite did not accept the last session. Connect with Kite again, or rotate the credentials.',
    };
  }
  if (!account.access_token_expires_at) {
    return {
      needsConnection: true,
      hasSession: false,
      text: 'Not connected yet: Connect with Kite to start today’s session.',
    };
  }
  return {
    needsConnection: false,
    hasSession: true,
    text: `Connected until ${formatDateTime(account.access_token_expires_at)}.`,
  };
}

/**
 * Carry the account id through Kite's redirect (Kite appends `redirect_params` to the return URL).
 * The service's login URL already does; this covers one that does not.
 */
export function withRedirectParams(loginUrl: string, accountId: string): string {
  try {
    const url = new URL(loginUrl, window.location.origin);
    if (!url.searchParams.has('redirect_params')) {
      url.searchParams.set('redirect_params', new URLSearchParams({ account: accountId }).toString());
    }
    return url.toString();
  } catch {
    return loginUrl;
  }
}

export function TradingAccountsPage() {
  const location = useLocation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const query = useTradingAccountsQuery();
  const accounts = query.data ?? null;
  const [notice, setNotice] = useState<string | null>((location.state as { notice?: string } | null)?.notice ?? null);
  const [showLinkForm, setShowLinkForm] = useState(false);
  const [goneNotice, setGoneNotice] = useState<string | null>(null);

  useEffect(() => {
    // The notice came through navigation state; do not show it again on reload.
    if ((location.state as { notice?: string } | null)?.notice)
      navigate(location.pathname, { replace: true, state: null });
  }, [location.pathname, location.state, navigate]);

  /** An action's answer is the account's new state: write it into the cached list. */
  const setAccounts = (update: (list: TradingAccount[]) => TradingAccount[]) =>
    queryClient.setQueryData<TradingAccount[]>(queryKeys.tradingAccounts, (list) => update(list ?? []));
  const replace = (updated: TradingAccount) =>
    setAccounts((list) => list.map((a) => (a.account_id === updated.account_id ? { ...a, ...updated } : a)));

  return (
    <>
      <PageHeader
        title="Trading accounts"
        description="Broker accounts linked to your identity. Secrets are encrypted and never shown again."
        actions={
          !showLinkForm ? (
            <Button onClick={() => setShowLinkForm(true)} aria-expanded={showLinkForm}>
              Link an account
            </Button>
          ) : null
        }
      />
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      {goneNotice ? <Alert tone="warning">{goneNotice}</Alert> : null}
      {showLinkForm || (accounts !== null && accounts.length === 0) ? (
        <LinkAccountForm
          onCancel={accounts && accounts.length > 0 ? () => setShowLinkForm(false) : undefined}
          onLinked={(account) => {
            setAccounts((list) => [...list, account]);
            setShowLinkForm(false);
            setNotice(
              `Kite account ${account.user_id_broker} was linked. Connect it with Kite to start trading today.`,
            );
          }}
        />
      ) : null}
      {query.isError ? <LoadError error={query.error} onRetry={() => void query.refetch()} /> : null}
      {query.isPending ? <PageLoader label="Loading trading accounts…" /> : null}
      {accounts && accounts.length > 0 ? (
        <ul className="accounts" aria-label="Linked trading accounts">
          {accounts.map((account) => (
            <AccountCard
              key={account.account_id}
              account={account}
              onChanged={replace}
              onUnlinked={() => {
                setAccounts((list) => list.filter((a) => a.account_id !== account.account_id));
                setNotice(`Kite account ${account.user_id_broker} was unlinked and its credentials destroyed.`);
              }}
              onNotice={setNotice}
              onGone={() => {
                void queryClient.invalidateQueries({ queryKey: queryKeys.tradingAccounts });
                setNotice(null);
                setGoneNotice(
                  `This account (${account.user_id_broker}) is no longer shared with you: its owner unlinked it or ended your access.`,
                );
              }}
            />
          ))}
        </ul>
      ) : null}
    </>
  );
}

function LinkAccountForm({
  onLinked,
  onCancel,
}: {
  onLinked(account: TradingAccount): void;
  onCancel?: (() => void) | undefined;
}) {
  const form = useAsyncForm({ user_id_broker: '', api_key: '', api_secret: '', access_token: '' });
  const {
    user_id_broker: userIdBroker,
    api_key: apiKey,
    api_secret: apiSecret,
    access_token: accessToken,
  } = form.values;

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(
      () =>
        tradingAccountsApi.create({
          broker: 'kite',
          user_id_broker: userIdBroker.trim(),
          api_key: apiKey.trim(),
          api_secret: apiSecret.trim(),
          ...(accessToken.trim() ? { access_token: accessToken.trim() } : {}),
        }),
      {
        validate: () => {
          const errors: Record<string, string> = {};
          if (!userIdBroker.trim()) errors.user_id_broker = 'Enter your Kite client ID, e.g. AB1234.';
          if (!apiKey.trim()) errors.api_key = 'Enter the API key of your Kite Connect app.';
          if (!apiSecret.trim()) errors.api_secret = 'Enter the API secret of your Kite Connect app.';
          return errors;
        },
        codeToField: { trading_account_already_linked: 'user_id_broker' },
      },
    );
    if (result.ok) onLinked(result.value);
  };

  return (
    <section className="card" aria-labelledby="link-heading">
      <h2 id="link-heading" className="card__title">
        Link a Kite account
      </h2>
      <p className="muted">
        Use the API key and secret of your Kite Connect app (developers.kite.trade → My apps). They are encrypted before
        they are stored and are only released to Quantagro’s own services.
      </p>
      <div className="redirect-url">
        <p className="field__label" id="redirect-url-label">
          Redirect URL for your Kite Connect app
        </p>
        <p className="muted">Paste this as the app’s Redirect URL, so Kite sends you back here after you sign in.</p>
        <div className="redirect-url__row">
          <code className="redirect-url__value">{kiteRedirectUrl()}</code>
          <CopyButton text={kiteRedirectUrl()} label="Copy redirect URL" />
        </div>
      </div>
      <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form">
        <FormAlert form={form} />
        <div className="form__grid">
          <TextField label="Broker" name="broker" value="Zerodha Kite" readOnly disabled />
          <TextField
            label="Kite client ID"
            autoComplete="off"
            spellCheck={false}
            autoCapitalize="characters"
            hint="The ID you sign in to Kite with, like ZX1234."
            {...form.field('user_id_broker')}
          />
          <TextField
            label="API key"
            autoComplete="off"
            spellCheck={false}
            hint="Shown on your Kite Connect app’s page."
            {...form.field('api_key')}
          />
          <PasswordField
            label="API secret"
            hint="Next to the API key; keep it private."
            autoComplete="off"
            {...form.field('api_secret')}
          />
        </div>
        <PasswordField
          label="Access token"
          optional
          autoComplete="off"
          hint="Leave empty: after linking, “Connect with Kite” gets today’s session for you."
          {...form.field('access_token')}
        />
        <div className="form__actions">
          <Button type="submit" loading={form.submitting}>
            Link account
          </Button>
          {onCancel ? (
            <Button variant="ghost" onClick={onCancel} disabled={form.submitting}>
              Cancel
            </Button>
          ) : null}
        </div>
      </form>
    </section>
  );
}

type Panel = 'none' | 'rotate' | 'share';

function AccountCard({
  account,
  onChanged,
  onUnlinked,
  onNotice,
  onGone,
}: {
  account: TradingAccount;
  onChanged(account: TradingAccount): void;
  onUnlinked(): void;
  onNotice(message: string | null): void;
  /** The account is no longer visible to us (unlinked by its owner, or our access ended). */
  onGone(): void;
}) {
  const headingId = useId();
  const menuId = useId();
  const { user } = useAuth();
  const [panel, setPanel] = useState<Panel>('none');
  const [busy, setBusy] = useState<'connect' | 'verify' | 'unlink' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirmUnlink, setConfirmUnlink] = useState(false);
  const [confirmLeave, setConfirmLeave] = useState(false);
  const [leaving, setLeaving] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  const queryClient = useQueryClient();
  const manage = canManage(account);
  // The list is a convenience: sharing still works when it does not load.
  const members = useMembersQuery(account.account_id, manage).data ?? [];
  const setMembers = (update: (list: TradingAccountMember[]) => TradingAccountMember[]) =>
    queryClient.setQueryData<TradingAccountMember[]>(queryKeys.members(account.account_id), (list) =>
      update(list ?? []),
    );
  const frozen = Boolean(account.frozen);
  const session = sessionSummary(account);
  const owner = account.role === 'owner';

  const failed = (err: unknown) => {
    const problem = toApiProblem(err);
    if (problem.status === 404) {
      onGone();
      return;
    }
    setError(problem.message);
  };

  const connect = async () => {
    setBusy('connect');
    setError(null);
    try {
      const url = await tradingAccountsApi.kiteLoginUrl(account.account_id);
      sessionStorage.setItem(KITE_PENDING_ACCOUNT_KEY, account.account_id);
      window.location.assign(withRedirectParams(url, account.account_id));
    } catch (err) {
      failed(err);
      setBusy(null);
    }
  };

  const verify = async () => {
    setBusy('verify');
    setError(null);
    onNotice(null);
    try {
      const updated = await tradingAccountsApi.verify(account.account_id);
      onChanged(updated);
      if (updated.status === 'active') {
        onNotice(`Kite confirmed ${account.user_id_broker}: it is connected and ready to trade.`);
      } else {
        setError(
          updated.reason
            ? messageForCode(updated.reason === 'access_token_expired' ? 'session_ended_daily' : updated.reason)
            : (sessionSummary(updated).text ?? 'Kite did not confirm this account.'),
        );
      }
    } catch (err) {
      failed(err);
    } finally {
      setBusy(null);
    }
  };

  const leave = async () => {
    setLeaving(true);
    setError(null);
    try {
      await tradingAccountsApi.leave(account.account_id);
      setConfirmLeave(false);
      onUnlinked();
      onNotice(`You left ${account.user_id_broker}; it is no longer shared with you.`);
    } catch (err) {
      setConfirmLeave(false);
      setLeaving(false);
      failed(err);
    }
  };

  const unlink = async () => {
    setBusy('unlink');
    setError(null);
    try {
      await tradingAccountsApi.unlink(account.account_id);
      setConfirmUnlink(false);
      onUnlinked();
    } catch (err) {
      setConfirmUnlink(false);
      setBusy(null);
      failed(err);
    }
  };

  const connectPrimary = manage && session.needsConnection;
  const connectButton = manage ? (
    <Button
      key="connect"
      variant={connectPrimary ? 'primary' : 'secondary'}
      onClick={() => void connect()}
      loading={busy === 'connect'}
      disabled={busy !== null || frozen}
    >
      {account.status === 'expired' ? 'Reconnect with Kite' : 'Connect with Kite'}
    </Button>
  ) : null;
  const verifyButton = (
    <Button
      key="verify"
      variant={connectPrimary ? 'secondary' : 'primary'}
      onClick={() => void verify()}
      loading={busy === 'verify'}
      disabled={busy !== null || frozen || !session.hasSession}
      title={session.hasSession ? undefined : 'Connect with Kite first'}
      aria-describedby={session.hasSession ? undefined : `${headingId}-verify-hint`}
    >
      Verify
    </Button>
  );
  const primary = connectPrimary ? connectButton : verifyButton;
  const others = [
    connectPrimary ? verifyButton : connectButton,
    manage ? (
      <Button
        key="rotate"
        variant="secondary"
        aria-expanded={panel === 'rotate'}
        onClick={() => {
          setPanel(panel === 'rotate' ? 'none' : 'rotate');
          setMenuOpen(false);
        }}
        disabled={frozen}
      >
        Rotate credentials
      </Button>
    ) : null,
    manage ? (
      <Button
        key="share"
        variant="secondary"
        aria-expanded={panel === 'share'}
        onClick={() => {
          setPanel(panel === 'share' ? 'none' : 'share');
          setMenuOpen(false);
        }}
        disabled={frozen}
      >
        Share
      </Button>
    ) : null,
    owner ? (
      <Button
        key="unlink"
        variant="danger-ghost"
        className="account__unlink"
        onClick={() => setConfirmUnlink(true)}
        disabled={busy !== null}
      >
        Unlink
      </Button>
    ) : (
      <Button
        key="leave"
        variant="danger-ghost"
        className="account__unlink"
        onClick={() => setConfirmLeave(true)}
        disabled={leaving}
      >
        Leave
      </Button>
    ),
  ].filter(Boolean);

  return (
    <li className="card account" aria-labelledby={headingId}>
      <div className="account__header">
        <div>
          <h2 id={headingId} className="account__title">
            <span className="account__broker">{account.broker === 'kite' ? 'Kite' : account.broker}</span>{' '}
            {account.user_id_broker}
          </h2>
          <p className="list__meta">
            {!owner && account.owner ? (
              <span>
                Owner: {account.owner.name} ({account.owner.email})
              </span>
            ) : null}
            <span>API key {account.api_key_masked ?? '••••'}</span>
            <span>Linked {formatDate(account.created_at)}</span>
            {!owner ? <span>Shared with you: {permissionNames(account.permissions)}</span> : null}
            {!owner && account.expires_at ? <span>Your access ends {formatDateTime(account.expires_at)}</span> : null}
            {account.verified_at ? <span>Checked {formatDateTime(account.verified_at)}</span> : null}
          </p>
          {/* After a failed Verify the alert below says it (and is read out): not twice. */}
          {session.text && !(error && session.needsConnection) ? (
            <p className={session.needsConnection ? 'account__session account__session--warn' : 'account__session'}>
              {session.text}
            </p>
          ) : null}
        </div>
        <StatusBadge status={account.status} label={statusLabel(account.status)} />
      </div>
      {frozen ? (
        <Alert tone="warning" title="Trading is frozen.">
          {owner
            ? 'You froze your account: nobody can trade on it until you unfreeze it in Security.'
            : 'The owner froze this account: nobody can trade on it until they unfreeze it.'}
        </Alert>
      ) : null}
      {error ? <Alert tone="error">{error}</Alert> : null}
      <div className="account__actions">
        {primary}
        <button
          type="button"
          className="btn btn--secondary account__menu-toggle"
          aria-expanded={menuOpen}
          aria-controls={menuId}
          onClick={() => setMenuOpen((open) => !open)}
        >
          More actions
        </button>
        <div id={menuId} className={menuOpen ? 'account__menu account__menu--open' : 'account__menu'}>
          {others}
        </div>
      </div>
      {!session.hasSession && !frozen ? (
        <p className="muted account__hint" id={`${headingId}-verify-hint`}>
          Verify needs today’s Kite session:{' '}
          {manage ? 'Connect with Kite first.' : 'ask the owner to connect with Kite.'}
        </p>
      ) : null}
      {panel === 'rotate' ? (
        <RotateCredentialsForm
          account={account}
          onCancel={() => setPanel('none')}
          onRotated={(updated) => {
            onChanged(updated);
            setPanel('none');
            onNotice(
              `New credentials for ${account.user_id_broker} were saved. Connect with Kite to get a new session.`,
            );
          }}
        />
      ) : null}
      {panel === 'share' ? (
        <ShareForm
          account={account}
          onCancel={() => setPanel('none')}
          onAdded={(member) => {
            setMembers((list) => [...list.filter((m) => m.user_id !== member.user_id), member]);
            onNotice(`Shared ${account.user_id_broker} with ${member.email} (${permissionNames(member.permissions)}).`);
          }}
        />
      ) : null}
      {manage && members.length > 0 ? (
        <MemberList
          account={account}
          members={members.filter((member) => member.user_id !== user?.user_id)}
          onRemoved={(member) => {
            setMembers((list) => list.filter((m) => m.user_id !== member.user_id));
            onNotice(`${member.email} no longer has access to ${account.user_id_broker}.`);
          }}
        />
      ) : null}
      <ConfirmDialog
        open={confirmLeave}
        title={`Leave ${account.user_id_broker}?`}
        confirmLabel="Leave account"
        busy={leaving}
        onCancel={() => setConfirmLeave(false)}
        onConfirm={() => void leave()}
      >
        You will no longer see or trade on this account. The owner can share it with you again.
      </ConfirmDialog>
      <ConfirmDialog
        open={confirmUnlink}
        title={`Unlink ${account.user_id_broker}?`}
        confirmLabel="Unlink account"
        busy={busy === 'unlink'}
        onCancel={() => setConfirmUnlink(false)}
        onConfirm={() => void unlink()}
      >
        The stored API key, secret and access token are destroyed, and everyone it is shared with loses access. You can
        link it again later with new credentials.
      </ConfirmDialog>
    </li>
  );
}

/** Words for the account statuses of the service. */
function statusLabel(status: string): string {
  return (
    {
      active: 'Connected',
      expired: 'Session ended',
      invalid: 'Needs attention',
      pending_verification: 'Not connected',
      pending: 'Not connected',
    }[status] ?? status.replace(/_/g, ' ')
  );
}

function RotateCredentialsForm({
  account,
  onRotated,
  onCancel,
}: {
  account: TradingAccount;
  onRotated(account: TradingAccount): void;
  onCancel(): void;
}) {
  const form = useAsyncForm({ api_key: '', api_secret: '' });
  const { api_key: apiKey, api_secret: apiSecret } = form.values;
  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(
      () =>
        tradingAccountsApi.rotateCredentials(account.account_id, {
          api_key: apiKey.trim(),
          api_secret: apiSecret.trim(),
        }),
      {
        validate: () => {
          const errors: Record<string, string> = {};
          if (!apiKey.trim()) errors.api_key = 'Enter the new API key.';
          if (!apiSecret.trim()) errors.api_secret = 'Enter the new API secret.';
          return errors;
        },
      },
    );
    if (result.ok) onRotated(result.value ?? account);
  };
  return (
    <form
      ref={form.formRef}
      onSubmit={onSubmit}
      noValidate
      className="form subcard"
      aria-label={`Rotate credentials of ${account.user_id_broker}`}
    >
      <h3 className="section-title">Rotate credentials</h3>
      <FormAlert form={form} />
      <div className="form__grid">
        <TextField label="New API key" autoComplete="off" spellCheck={false} {...form.field('api_key')} />
        <PasswordField label="New API secret" autoComplete="off" {...form.field('api_secret')} />
      </div>
      <div className="form__actions">
        <Button type="submit" loading={form.submitting}>
          Save new credentials
        </Button>
        <Button variant="ghost" onClick={onCancel} disabled={form.submitting}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

function ShareForm({
  account,
  onAdded,
  onCancel,
}: {
  account: TradingAccount;
  onAdded(member: TradingAccountMember): void;
  onCancel(): void;
}) {
  const [permissions, setPermissions] = useState<AccountPermission[]>(['view']);
  const [confirmManage, setConfirmManage] = useState(false);
  const form = useAsyncForm({ email: '', expires_at: '' });
  const { email, expires_at: expires } = form.values;
  const owner = account.role === 'owner';
  const offered = owner ? PERMISSIONS : PERMISSIONS.filter((perm) => perm.id !== 'manage');
  const toggle = (id: AccountPermission) =>
    setPermissions((current) => (current.includes(id) ? current.filter((p) => p !== id) : [...current, id]));

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (permissions.includes('manage') && email.trim()) setConfirmManage(true);
    else void share();
  };

  const share = async () => {
    setConfirmManage(false);
    const expiresAt = expiryToIso(expires);
    const result = await form.run(
      () =>
        tradingAccountsApi.addMember(account.account_id, {
          email: email.trim(),
          permissions,
          ...(expiresAt ? { expires_at: expiresAt } : {}),
        }),
      {
        codeToField: {
          user_not_found: 'email',
          member_is_owner: 'email',
          permission_not_held: 'permissions',
          owner_only_permission: 'permissions',
          invalid_expiry: 'expires_at',
          grant_outlives_yours: 'expires_at',
        },
        validate: () => {
          const errors: Record<string, string> = {};
          if (!email.trim()) errors.email = 'Enter the email of the person to share with.';
          else if (!/^\S+@\S+\.\S+$/.test(email.trim())) errors.email = 'Enter a valid email address.';
          if (permissions.length === 0) errors.permissions = 'Choose at least one permission.';
          if (expires && !expiresAt) errors.expires_at = 'Enter a valid date and time.';
          else if (expiresAt && new Date(expiresAt).getTime() <= Date.now())
            errors.expires_at = 'Choose a time in the future.';
          else if (!owner && account.expires_at && (!expiresAt || expiresAt > account.expires_at)) {
            errors.expires_at = `Your own access ends ${formatDateTime(account.expires_at)}: choose an end on or before it.`;
          }
          return errors;
        },
      },
    );
    if (result.ok) {
      onAdded(result.value);
      form.setValues({ email: '', expires_at: '' });
      setPermissions(['view']);
    }
  };

  return (
    <form
      ref={form.formRef}
      onSubmit={onSubmit}
      noValidate
      className="form subcard"
      aria-label={`Share ${account.user_id_broker}`}
    >
      <h3 className="section-title">Share with a Quantagro user</h3>
      <FormAlert form={form} />
      <TextField label="Their email" type="email" autoComplete="off" {...form.field('email')} name="member_email" />
      <fieldset
        className="fieldset"
        aria-invalid={form.fieldErrors.permissions ? true : undefined}
        aria-describedby={form.fieldErrors.permissions ? 'perm-error' : undefined}
      >
        <legend className="field__label">Permissions</legend>
        <div className="chips">
          {offered.map((perm) => (
            <label key={perm.id} className="chip">
              <input type="checkbox" checked={permissions.includes(perm.id)} onChange={() => toggle(perm.id)} />
              <span>
                <strong>{perm.label}</strong> <span className="muted">— {perm.hint}</span>
              </span>
            </label>
          ))}
        </div>
        {form.fieldErrors.permissions ? (
          <p className="field__error" id="perm-error">
            {form.fieldErrors.permissions}
          </p>
        ) : null}
      </fieldset>
      <TextField
        label="Access ends"
        type="datetime-local"
        optional
        hint={
          !owner && account.expires_at
            ? `Your own access ends ${formatDateTime(account.expires_at)}; theirs must end by then.`
            : 'Leave empty to share until you remove them (at most one year ahead otherwise).'
        }
        {...form.field('expires_at')}
      />
      <div className="form__actions">
        <Button type="submit" loading={form.submitting}>
          Share
        </Button>
        <Button variant="ghost" onClick={onCancel} disabled={form.submitting}>
          Close
        </Button>
      </div>
      <ConfirmDialog
        open={confirmManage}
        title={`Give ${email.trim()} “Manage”?`}
        confirmLabel="Give Manage"
        onCancel={() => setConfirmManage(false)}
        onConfirm={() => void share()}
      >
        With Manage they can change the credentials of {account.user_id_broker}, connect it with Kite and share it with
        others. Only give it to someone you trust with the account itself.
      </ConfirmDialog>
    </form>
  );
}

function MemberList({
  account,
  members,
  onRemoved,
}: {
  account: TradingAccount;
  members: TradingAccountMember[];
  onRemoved(member: TradingAccountMember): void;
}) {
  const [confirming, setConfirming] = useState<TradingAccountMember | null>(null);
  const [removing, setRemoving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = async (member: TradingAccountMember) => {
    setRemoving(true);
    setError(null);
    try {
      await tradingAccountsApi.removeMember(account.account_id, member.user_id);
      onRemoved(member);
    } catch (err) {
      setError(toApiProblem(err).message);
    } finally {
      setRemoving(false);
      setConfirming(null);
    }
  };
  if (members.length === 0) return null;
  return (
    <div className="members">
      <h3 className="section-title">Shared with</h3>
      {error ? <Alert tone="error">{error}</Alert> : null}
      <ul className="members__list">
        {members.map((member) => (
          <li key={member.user_id}>
            <span>
              {member.name ? `${member.name} · ` : ''}
              {member.email} <span className="muted">({permissionNames(member.permissions)})</span>
              {member.expires_at ? <span className="muted"> · until {formatDateTime(member.expires_at)}</span> : null}
            </span>
            <Button
              variant="ghost"
              size="sm"
              onClick={() => setConfirming(member)}
              aria-label={`Remove ${member.email}`}
            >
              Remove
            </Button>
          </li>
        ))}
      </ul>
      <ConfirmDialog
        open={confirming !== null}
        title={`Remove ${confirming?.email ?? ''}?`}
        confirmLabel="Remove access"
        busy={removing}
        onCancel={() => setConfirming(null)}
        onConfirm={() => confirming && void remove(confirming)}
      >
        They lose access to {account.user_id_broker} at once, including any trading through Quantagro. You can share it
        with them again later.
      </ConfirmDialog>
    </div>
  );
}
