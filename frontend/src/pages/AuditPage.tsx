import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import type { AuditEvent } from '../api/types';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { SelectField, TextField } from '../components/Field';
import { PageHeader } from '../components/PageHeader';
import { PageLoader } from '../components/Spinner';
import { describeUserAgent, formatDateTime } from '../components/format';
import { toApiProblem } from '../services/errors';
import { usersApi } from '../services/usersApi';

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
  'mfa.enabled': 'Two-factor turned on',
  'mfa.disabled': 'Two-factor turned off',
  'mfa.failed': 'Wrong two-factor code',
  'mfa.step_up': 'Second factor confirmed',
  'mfa.backup_codes_regenerated': 'Backup codes regenerated',
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

const FILTER_GROUPS: { label: string; types: string[] }[] = [
  { label: 'Sign-in', types: ['login.success', 'login.failed', 'login.rate_limited', 'logout', 'token.refreshed', 'refresh.reuse_detected'] },
  {
    label: 'Security',
    types: [
      'mfa.enabled',
      'mfa.disabled',
      'mfa.failed',
      'mfa.backup_codes_regenerated',
      'password.changed',
      'password.reset_requested',
      'password.reset',
    ],
  },
  { label: 'Account', types: ['user.registered', 'email.verified', 'user.updated', 'permission.changed'] },
  {
    label: 'Trading accounts',
    types: [
      'trading_account.linked',
      'trading_account.verified',
      'trading_account.credentials_rotated',
      'trading_account.member_added',
      'trading_account.member_removed',
      'trading_account.unlinked',
      'credentials.released',
    ],
  },
];

interface Filters {
  eventType: string;
  from: string;
  to: string;
}

/** A date input's `YYYY-MM-DD` as the start of that local day, in ISO 8601. */
export function startOfDayIso(date: string): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y!, (m ?? 1) - 1, d ?? 1, 0, 0, 0, 0).toISOString();
}

/** The end of a local day: the start of the next one (`until` is exclusive). */
export function endOfDayIso(date: string): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y!, (m ?? 1) - 1, (d ?? 1) + 1, 0, 0, 0, 0).toISOString();
}

function eventDetails(event: AuditEvent): string {
  const details = event.details;
  if (!details || typeof details !== 'object') return '';
  return Object.entries(details)
    .filter(([, value]) => value !== null && value !== undefined && typeof value !== 'object')
    .map(([key, value]) => `${key.replace(/_/g, ' ')}: ${String(value)}`)
    .join(' · ');
}

export function AuditPage() {
  const [draft, setDraft] = useState<Filters>({ eventType: '', from: '', to: '' });
  const [filters, setFilters] = useState<Filters>(draft);
  const [items, setItems] = useState<AuditEvent[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [rangeError, setRangeError] = useState<string | null>(null);
  const requestId = useRef(0);

  const query = useCallback(
    (f: Filters, after: string | null) =>
      usersApi.audit({
        limit: PAGE_SIZE,
        cursor: after,
        event_type: f.eventType || undefined,
        since: f.from ? startOfDayIso(f.from) : undefined,
        until: f.to ? endOfDayIso(f.to) : undefined,
      }),
    [],
  );

  useEffect(() => {
    const id = ++requestId.current;
    setLoading(true);
    setError(null);
    query(filters, null)
      .then((page) => {
        if (id !== requestId.current) return;
        setItems(page.items);
        setCursor(page.next_cursor);
      })
      .catch((err) => id === requestId.current && setError(toApiProblem(err).message))
      .finally(() => id === requestId.current && setLoading(false));
  }, [filters, query]);

  const loadMore = async () => {
    if (!cursor) return;
    const id = requestId.current;
    setLoadingMore(true);
    setError(null);
    try {
      const page = await query(filters, cursor);
      if (id !== requestId.current) return;
      setItems((current) => [...(current ?? []), ...page.items]);
      setCursor(page.next_cursor);
    } catch (err) {
      setError(toApiProblem(err).message);
    } finally {
      setLoadingMore(false);
    }
  };

  const apply = (event: FormEvent) => {
    event.preventDefault();
    if (draft.from && draft.to && draft.from > draft.to) {
      setRangeError('The start date must be on or before the end date.');
      return;
    }
    setRangeError(null);
    setFilters({ ...draft });
  };

  const clear = () => {
    const empty = { eventType: '', from: '', to: '' };
    setDraft(empty);
    setRangeError(null);
    setFilters(empty);
  };

  const filtered = filters.eventType || filters.from || filters.to;

  return (
    <>
      <PageHeader title="Activity" description="Security events on your account, newest first." />
      <form className="card filters" onSubmit={apply} noValidate aria-label="Filter activity">
        <SelectField
          label="Event type"
          name="event_type"
          value={draft.eventType}
          onChange={(e) => setDraft({ ...draft, eventType: e.target.value })}
        >
          <option value="">All events</option>
          {FILTER_GROUPS.map((group) => (
            <optgroup key={group.label} label={group.label}>
              {group.types.map((type) => (
                <option key={type} value={type}>
                  {EVENT_LABELS[type] ?? type}
                </option>
              ))}
            </optgroup>
          ))}
        </SelectField>
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
          <Button type="submit" loading={loading && !loadingMore}>
            Apply filters
          </Button>
          {filtered ? (
            <Button variant="ghost" onClick={clear}>
              Clear
            </Button>
          ) : null}
        </div>
      </form>
      {error ? <Alert tone="error">{error}</Alert> : null}
      {items === null && loading ? <PageLoader label="Loading activity…" /> : null}
      {items !== null ? (
        items.length === 0 ? (
          <p className="empty" role="status">
            {filtered ? 'No events match these filters.' : 'No activity yet.'}
          </p>
        ) : (
          <div className="table-wrap" aria-busy={loading}>
            <table className="table">
              <caption className="visually-hidden">Account activity</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Event</th>
                  <th scope="col">IP address</th>
                  <th scope="col">Device</th>
                </tr>
              </thead>
              <tbody>
                {items.map((event, index) => {
                  const details = eventDetails(event);
                  return (
                    <tr key={`${event.event_id}-${index}`} data-event-type={event.event_type}>
                      <td className="nowrap">
                        <time dateTime={event.occurred_at}>{formatDateTime(event.occurred_at)}</time>
                      </td>
                      <td>
                        <span className={`event event--${event.event_type.split('.')[1] ?? event.event_type}`}>
                          {EVENT_LABELS[event.event_type] ?? event.event_type}
                        </span>
                        <span className="event__code">{event.event_type}</span>
                        {details ? <span className="event__details">{details}</span> : null}
                      </td>
                      <td className="nowrap">{event.ip ?? '—'}</td>
                      <td className="truncate" title={event.user_agent ?? undefined}>
                        {describeUserAgent(event.user_agent)}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )
      ) : null}
      {cursor ? (
        <div className="load-more">
          <Button variant="secondary" onClick={() => void loadMore()} loading={loadingMore}>
            Load more
          </Button>
        </div>
      ) : items && items.length > 0 ? (
        <p className="muted center">That’s everything.</p>
      ) : null}
    </>
  );
}
