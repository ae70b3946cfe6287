import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { useAuth } from '../contexts/AuthContext';
import type { AuditEvent } from '../api/types';
import { Button } from '../components/Button';
import { Checkbox, TextField } from '../components/Field';
import { LoadError } from '../components/LoadError';
import { PageHeader } from '../components/PageHeader';
import { PageLoader } from '../components/Spinner';
import { deviceName, formatDateTime } from '../components/format';
import { useAuditQuery } from '../services/queries';

const PAGE_SIZE = 20;

export const EVENT_LABELS: Record<string, string> = {
  'user.registered': 'Account created',
  'user.updated': 'Profile updated',
  'user.deactivated': 'Account deactivated',
  'user.exported': 'Data exported',
  'user.status_changed': 'Account status changed',
  'email.verified': 'Email verified',
  'email.verification_sent': 'Verification email sent',
  'login.success': 'Signed in',
  'login.failed': 'Failed sign-in',
  'login.rate_limited': 'Sign-in blocked (too many attempts)',
  'login.new_device': 'Sign-in from a new device',
  'login.risk': 'Unusual sign-in checked',
  'user.frozen': 'Account frozen',
  'user.unfrozen': 'Account unfrozen',
  'user.unfreeze_requested': 'Unfreeze link sent',
  'user.deactivate_failed': 'Failed attempt to deactivate the account',
  'session.revoked_all': 'Signed out on all devices',
  'mfa.enabled': 'Two-factor turned on',
  'mfa.disabled': 'Two-factor turned off',
  'mfa.failed': 'Wrong two-factor code',
  'mfa.step_up': 'Second factor confirmed',
  'mfa.backup_codes_regenerated': 'Backup codes regenerated',
  'mfa.factor_added': 'Second factor added',
  'mfa.factor_removed': 'Second factor removed',
  'mfa.factor_renamed': 'Second factor renamed',
  'mfa.passkey_cloned': 'A copied passkey was refused',
  'auth.reauthenticated': 'Password confirmed again',
  'identity.link_requested': 'Linking of a sign-in account started',
  'identity.linked': 'Sign-in account linked',
  'identity.unlinked': 'Sign-in account unlinked',
  'user.identity_link_failed': 'Failed attempt to link a sign-in account',
  'token.refreshed': 'Session refreshed',
  'refresh.reuse_detected': 'Session ended: token reuse detected',
  logout: 'Signed out',
  'session.revoked': 'Session revoked',
  'password.changed': 'Password changed',
  'password.change_failed': 'Failed password change',
  'password.reset': 'Password reset',
  'password.reset_requested': 'Password reset requested',
  'trading_account.linked': 'Trading account linked',
  'trading_account.unlinked': 'Trading account unlinked',
  'trading_account.link_expired': 'Unconfirmed trading account link expired',
  'trading_account.link_taken_over': 'Unconfirmed trading account link removed',
  'trading_account.verified': 'Trading account verified',
  'trading_account.expired': 'Trading token expired',
  'trading_account.credentials_rotated': 'Trading credentials rotated',
  'trading_account.credentials_unreadable': 'Trading credentials unreadable',
  'trading_account.member_added': 'Trading account shared',
  'trading_account.member_updated': 'Trading account access changed',
  'trading_account.member_removed': 'Trading account access removed',
  'credentials.released': 'Credentials released to a service',
  'permission.changed': 'Permissions changed',
};

export const FILTER_GROUPS: { id: string; label: string; types: string[] }[] = [
  { id: 'signin', label: 'Sign-in', types: ['login.*', 'logout', 'token.refreshed', 'refresh.*', 'session.*'] },
  { id: 'security', label: 'Security', types: ['mfa.*', 'password.*', 'auth.*', 'identity.*'] },
  { id: 'account', label: 'Account', types: ['user.*', 'email.*', 'permission.*'] },
  { id: 'trading', label: 'Trading accounts', types: ['trading_account.*', 'credentials.*'] },
];

const REFRESH = 'token.refreshed';

type Details = Record<string, unknown>;

function detailsOf(event: AuditEvent): Details {
  return event.details && typeof event.details === 'object' ? (event.details as Details) : {};
}

/** "Kite ZX1234" — the broker id, never the account's UUID. */
function accountName(details: Details): string {
  const id = typeof details.user_id_broker === 'string' ? details.user_id_broker : null;
  return id ? `Kite ${id}` : 'a trading account';
}

/** Why a Kite check failed, said after the sentence (the code stays in Details). */
const CHECK_FAILURES: Record<string, string> = {
  access_token_expired: 'Kite had ended the day’s session',
  session_ended_daily: 'Kite had ended the day’s session',
  credentials_rejected: 'Kite did not accept the API key and secret',
  broker_auth_failed: 'Kite refused the session',
  broker_user_mismatch: 'the Kite sign-in was for another client ID',
};

const FACTOR_KIND: Record<string, string> = { totp: 'Authenticator app', passkey: 'Passkey' };

/** "Passkey “Laptop” added" — the factor's kind and name, never its id. */
function factorTitle(what: 'added' | 'removed', details: Details): string {
  const kind = FACTOR_KIND[String(details.type ?? details.method ?? '')] ?? 'Second factor';
  const name = typeof details.name === 'string' && details.name ? ` “${details.name}”` : '';
  return `${kind}${name} ${what}`;
}

const PROVIDERS: Record<string, string> = { google: 'Google' };

/** "Google account linked" — the provider by name (a sign-in account when unknown). */
function identityTitle(type: string, details: Details): string {
  const provider = PROVIDERS[String(details.provider ?? '')];
  const account = provider ? `${provider} account` : 'sign-in account';
  switch (type) {
    case 'identity.linked':
      return provider ? `${account} linked` : 'Sign-in account linked';
    case 'identity.unlinked':
      return provider ? `${account} unlinked` : 'Sign-in account unlinked';
    case 'identity.link_requested':
      return `Linking of a ${account} started`;
    default:
      return `Failed attempt to link a ${account}`;
  }
}

/** The row's title: failures are titled as failures. */
export function eventTitle(event: AuditEvent): string {
  const details = detailsOf(event);
  const account = accountName(details);
  switch (event.event_type) {
    case 'trading_account.verified':
      return details.reason ? `Kite check failed for ${account}` : `${account} checked with Kite`;
    case 'trading_account.linked':
      return `${account} linked`;
    case 'trading_account.unlinked':
      return `${account} unlinked`;
    case 'trading_account.expired':
      return `Kite session of ${account} ended`;
    case 'trading_account.credentials_rotated':
      return `New credentials saved for ${account}`;
    case 'trading_account.credentials_unreadable':
      return `Stored credentials of ${account} could not be read`;
    case 'trading_account.member_added':
      return `${account} shared`;
    case 'trading_account.member_updated':
      return `Access to ${account} changed`;
    case 'trading_account.member_removed':
      return `Access to ${account} removed`;
    case 'credentials.released':
      return `${account} used by a Quantagro service`;
    case 'trading_account.link_expired':
      return `Unconfirmed link of ${account} expired`;
    case 'trading_account.link_taken_over':
      return `Unconfirmed link of ${account} removed: its owner connected it with Kite`;
    case 'mfa.factor_added':
    case 'mfa.factor_removed':
      return factorTitle(event.event_type === 'mfa.factor_added' ? 'added' : 'removed', details);
    case 'identity.linked':
    case 'identity.unlinked':
    case 'identity.link_requested':
    case 'user.identity_link_failed':
      return identityTitle(event.event_type, details);
    case 'logout':
      return details.all_devices ? 'Signed out on all devices' : 'Signed out';
    default:
      return EVENT_LABELS[event.event_type] ?? 'Account event';
  }
}

/** One sentence: what happened, from where and on which device. */
export function eventSentence(event: AuditEvent): string {
  const parts = [eventTitle(event)];
  const device = event.user_agent ? deviceName(event.user_agent) : null;
  if (device) parts.push(`on ${device}`);
  if (event.ip) parts.push(`from ${event.ip}`);
  const details = detailsOf(event);
  const why = event.event_type === 'trading_account.verified' ? CHECK_FAILURES[String(details.reason ?? '')] : null;
  return why ? `${parts.join(' ')}: ${why}.` : `${parts.join(' ')}.`;
}

function isFailure(event: AuditEvent): boolean {
  const details = detailsOf(event);
  return (
    /\.(failed|rate_limited|reuse_detected|change_failed|credentials_unreadable|link_failed|passkey_cloned)$/.test(
      event.event_type,
    ) || Boolean(details.reason && event.event_type === 'trading_account.verified')
  );
}

/** A date input's `YYYY-MM-DD` as the start of that local day, in ISO 8601. */
export function startOfDayIso(date: string): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y ?? 1970, (m ?? 1) - 1, d ?? 1, 0, 0, 0, 0).toISOString();
}

/** The end of a local day: the start of the next one (`until` is exclusive). */
export function endOfDayIso(date: string): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + 1, 0, 0, 0, 0).toISOString();
}

interface Filters {
  groups: string[];
  from: string;
  to: string;
  refreshes: boolean;
}

function filtersFrom(params: URLSearchParams): Filters {
  return {
    groups: params.getAll('type').filter((id) => FILTER_GROUPS.some((group) => group.id === id)),
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
    refreshes: params.get('refreshes') === '1',
  };
}

function paramsFrom(filters: Filters): URLSearchParams {
  const params = new URLSearchParams();
  for (const id of filters.groups) params.append('type', id);
  if (filters.from) params.set('from', filters.from);
  if (filters.to) params.set('to', filters.to);
  if (filters.refreshes) params.set('refreshes', '1');
  return params;
}

export function AuditPage() {
  const { user } = useAuth();
  const timeZone = (user as { timezone?: string | null } | null)?.timezone ?? null;
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFrom(params), [params]);
  const [draft, setDraft] = useState<Filters>(filters);
  const [rangeError, setRangeError] = useState<string | null>(null);

  useEffect(() => setDraft(filters), [filters]);

  const events = useAuditQuery({
    limit: PAGE_SIZE,
    event_types: FILTER_GROUPS.filter((group) => filters.groups.includes(group.id)).flatMap((group) => group.types),
    since: filters.from ? startOfDayIso(filters.from) : undefined,
    until: filters.to ? endOfDayIso(filters.to) : undefined,
  });
  const items: AuditEvent[] | null = events.data?.pages.flatMap((page) => page.items) ?? null;
  const loading = events.isFetching && !events.isFetchingNextPage;

  const apply = (event: FormEvent) => {
    event.preventDefault();
    if (draft.from && draft.to && draft.from > draft.to) {
      setRangeError('The start date must be on or before the end date.');
      return;
    }
    setRangeError(null);
    setParams(paramsFrom(draft));
  };

  const clear = () => {
    setRangeError(null);
    setParams(paramsFrom({ groups: [], from: '', to: '', refreshes: filters.refreshes }));
  };

  // Local too, so the checkbox answers the click at once (the URL update renders a tick later).
  const [showRefreshes, setShowRefreshes] = useState(filters.refreshes);
  useEffect(() => setShowRefreshes(filters.refreshes), [filters.refreshes]);
  const toggleRefreshes = (on: boolean) => {
    setShowRefreshes(on);
    setParams(paramsFrom({ ...filters, refreshes: on }));
  };

  const filtered = filters.groups.length > 0 || filters.from || filters.to;
  const visible = (items ?? []).filter((event) => showRefreshes || event.event_type !== REFRESH);
  const hidden = (items?.length ?? 0) - visible.length;

  return (
    <>
      <PageHeader title="Activity" description="Security events on your account, newest first." />
      <form className="card filters" onSubmit={apply} noValidate aria-label="Filter activity">
        <fieldset className="fieldset filters__types">
          <legend className="field__label">Show</legend>
          <div className="chips">
            {FILTER_GROUPS.map((group) => (
              <label key={group.id} className="chip">
                <input
                  type="checkbox"
                  name="type"
                  value={group.id}
                  checked={draft.groups.includes(group.id)}
                  onChange={(e) =>
                    setDraft({
                      ...draft,
                      groups: e.target.checked
                        ? [...draft.groups, group.id]
                        : draft.groups.filter((id) => id !== group.id),
                    })
                  }
                />
                <span>{group.label}</span>
              </label>
            ))}
          </div>
        </fieldset>
        <TextField
          label="From"
          name="since"
          type="date"
          value={draft.from}
          max={draft.to || undefined}
          onChange={(e) => setDraft({ ...draft, from: e.target.value })}
          error={rangeError ?? undefined}
        />
        <TextField
          label="To"
          name="until"
          type="date"
          value={draft.to}
          min={draft.from || undefined}
          onChange={(e) => setDraft({ ...draft, to: e.target.value })}
        />
        <div className="filters__actions">
          <Button type="submit" loading={loading}>
            Apply filters
          </Button>
          {filtered ? (
            <Button variant="ghost" onClick={clear}>
              Clear
            </Button>
          ) : null}
        </div>
      </form>
      <div className="filters__refresh">
        <Checkbox
          label="Show session refreshes"
          checked={showRefreshes}
          onChange={(e) => toggleRefreshes(e.target.checked)}
        />
        {!showRefreshes && hidden > 0 ? (
          <span className="muted">
            {hidden} automatic session refresh{hidden === 1 ? '' : 'es'} hidden
          </span>
        ) : null}
      </div>
      {events.isError ? (
        <LoadError
          error={events.error}
          onRetry={() => void (events.isFetchNextPageError ? events.fetchNextPage() : events.refetch())}
        />
      ) : null}
      {items === null && loading ? <PageLoader label="Loading activity…" /> : null}
      {items !== null ? (
        visible.length === 0 ? (
          <p className="empty" role="status">
            {filtered ? 'No events match these filters.' : 'No activity yet.'}
          </p>
        ) : (
          <div className="table-wrap" aria-busy={loading}>
            <table className="table table--stack">
              <caption className="visually-hidden">Account activity</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">What happened</th>
                </tr>
              </thead>
              <tbody>
                {visible.map((event) => (
                  <tr
                    key={event.event_id}
                    data-event-type={event.event_type}
                    className={isFailure(event) ? 'row--failed' : undefined}
                  >
                    <td className="nowrap" data-label="When">
                      <time dateTime={event.occurred_at}>{formatDateTime(event.occurred_at, timeZone)}</time>
                    </td>
                    <td data-label="What happened">
                      <span className={isFailure(event) ? 'event event--failed' : 'event'}>{eventSentence(event)}</span>
                      <details className="event__more">
                        <summary>Details</summary>
                        <dl className="event__details">
                          <div className="event__detail">
                            <dt>event code</dt>
                            <dd>
                              <code>{event.event_type}</code>
                            </dd>
                          </div>
                          {Object.entries(detailsOf(event))
                            .filter(([, value]) => value !== null && value !== undefined)
                            .map(([key, value]) => (
                              <div key={key} className="event__detail">
                                <dt>{key.replace(/_/g, ' ')}</dt>
                                <dd>
                                  <code>{typeof value === 'object' ? JSON.stringify(value) : String(value)}</code>
                                </dd>
                              </div>
                            ))}
                          {event.user_agent ? (
                            <div className="event__detail">
                              <dt>browser</dt>
                              <dd>
                                <code>{event.user_agent}</code>
                              </dd>
                            </div>
                          ) : null}
                        </dl>
                      </details>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : null}
      {events.hasNextPage ? (
        <div className="load-more">
          <Button variant="secondary" onClick={() => void events.fetchNextPage()} loading={events.isFetchingNextPage}>
            Load more
          </Button>
        </div>
      ) : items && items.length > 0 ? (
        <p className="muted center">That’s everything.</p>
      ) : null}
    </>
  );
}
