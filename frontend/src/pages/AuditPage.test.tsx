import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { signedInHandlers, server } from '../test/server';
import { renderApp } from '../test/render';
import { endOfDayIso, eventSentence, eventTitle, FILTER_GROUPS, startOfDayIso } from './AuditPage';

function event(n: number, type = 'login.success') {
  return {
    event_id: n,
    event_type: type,
    occurred_at: `2025-03-${String(10 + (n % 10)).padStart(2, '0')}T10:00:00Z`,
    actor: 'user',
    ip: '203.0.113.x',
    user_agent: 'Chrome on Linux',
    risk_score: 0,
    details: {},
  };
}

describe('AuditPage', () => {
  it('pages with the cursor and appends on "Load more"', async () => {
    const queries: URLSearchParams[] = [];
    server.use(
      ...signedInHandlers(),
      http.get('/v1/users/me/audit', ({ request }) => {
        const params = new URL(request.url).searchParams;
        queries.push(params);
        if (!params.get('cursor')) {
          return HttpResponse.json({ items: [event(1), event(2, 'mfa.enabled')], next_cursor: 'c-2' });
        }
        return HttpResponse.json({ items: [event(3, 'login.failed')], next_cursor: null });
      }),
    );
    const { user } = renderApp('/audit');
    const table = await screen.findByRole('table');
    expect(within(table).getAllByRole('row')).toHaveLength(3); // header + 2
    expect(within(table).getByText(/^Two-factor turned on/)).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(within(table).getAllByRole('row')).toHaveLength(4));
    expect(within(table).getByText(/^Failed sign-in/)).toHaveClass('event--failed');
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
    expect(queries[0]!.get('cursor')).toBeNull();
    expect(queries[0]!.get('limit')).toBe('20');
    expect(queries[1]!.get('cursor')).toBe('c-2');
  });

  it('sends the event type and date range as filters and starts again from the first page', async () => {
    const queries: URLSearchParams[] = [];
    server.use(
      ...signedInHandlers(),
      http.get('/v1/users/me/audit', ({ request }) => {
        const params = new URL(request.url).searchParams;
        queries.push(params);
        return params.get('event_type')
          ? HttpResponse.json({ items: [event(5, 'password.changed')], next_cursor: null })
          : HttpResponse.json({ items: [event(1), event(2)], next_cursor: 'c-2' });
      }),
    );
    const { user, location } = renderApp('/audit');
    await screen.findByRole('table');
    await user.click(screen.getByRole('checkbox', { name: 'Security' }));
    await user.click(screen.getByRole('checkbox', { name: 'Account' }));
    await user.type(screen.getByLabelText('From'), '2025-03-01');
    await user.type(screen.getByLabelText('To'), '2025-03-31');
    await user.click(screen.getByRole('button', { name: 'Apply filters' }));

    await waitFor(() => expect(screen.getAllByRole('row')).toHaveLength(2));
    expect(within(screen.getByRole('table')).getByText(/^Password changed/)).toBeInTheDocument();
    const last = queries[queries.length - 1]!;
    expect(last.getAll('event_type')).toEqual([
      'mfa.*',
      'password.*',
      'auth.*',
      'identity.*',
      'user.*',
      'email.*',
      'permission.*',
    ]);
    expect(last.get('since')).toBe(startOfDayIso('2025-03-01'));
    expect(last.get('until')).toBe(endOfDayIso('2025-03-31'));
    expect(last.get('cursor')).toBeNull();
    expect(location()).toBe('/audit?type=security&type=account&from=2025-03-01&to=2025-03-31');
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
  });

  it('reads filters from the URL', async () => {
    const queries: URLSearchParams[] = [];
    server.use(
      ...signedInHandlers(),
      http.get('/v1/users/me/audit', ({ request }) => {
        queries.push(new URL(request.url).searchParams);
        return HttpResponse.json({ items: [event(1)], next_cursor: null });
      }),
    );
    renderApp('/audit?type=trading&from=2025-03-01');
    await screen.findByRole('table');
    expect(screen.getByRole('checkbox', { name: 'Trading accounts' })).toBeChecked();
    expect(queries[0]!.getAll('event_type')).toEqual(['trading_account.*', 'credentials.*']);
    expect(queries[0]!.get('since')).toBe(startOfDayIso('2025-03-01'));
  });

  it('hides session refreshes until asked, and reads each row as a sentence with the broker id', async () => {
    server.use(
      ...signedInHandlers(),
      http.get('/v1/users/me/audit', () =>
        HttpResponse.json({
          items: [
            event(1, 'token.refreshed'),
            event(2, 'token.refreshed'),
            {
              ...event(3, 'trading_account.verified'),
              details: { account_id: '7b1e-uuid', user_id_broker: 'ZX1234', reason: 'access_token_expired' },
            },
            {
              ...event(4, 'trading_account.verified'),
              details: { account_id: '7b1e-uuid', user_id_broker: 'ZX1234', reason: null },
            },
          ],
          next_cursor: null,
        }),
      ),
    );
    const { user } = renderApp('/audit');
    const table = await screen.findByRole('table');
    expect(within(table).queryByText(/Session refreshed/)).not.toBeInTheDocument();
    expect(screen.getByText('2 automatic session refreshes hidden')).toBeInTheDocument();
    expect(within(table).getByText(/^Kite check failed for Kite ZX1234/)).toHaveClass('event--failed');
    expect(within(table).getByText(/^Kite ZX1234 checked with Kite/)).toBeInTheDocument();
    // Codes and ids only inside the collapsed Details.
    const code = within(table).getAllByText('7b1e-uuid')[0]!;
    expect(code.closest('details')).not.toHaveAttribute('open');
    await user.click(screen.getByRole('checkbox', { name: 'Show session refreshes' }));
    expect(await within(table).findAllByText(/^Session refreshed/)).toHaveLength(2);
  });

  it('refuses a start date after the end date', async () => {
    server.use(
      ...signedInHandlers(),
      http.get('/v1/users/me/audit', () => HttpResponse.json({ items: [], next_cursor: null })),
    );
    const { user } = renderApp('/audit');
    expect(await screen.findByText('No activity yet.')).toBeInTheDocument();
    await user.type(screen.getByLabelText('From'), '2025-04-02');
    await user.type(screen.getByLabelText('To'), '2025-04-01');
    await user.click(screen.getByRole('button', { name: 'Apply filters' }));
    expect(screen.getByText('The start date must be on or before the end date.')).toBeInTheDocument();
  });

  it('offers Retry after a server error, without the server wording', async () => {
    let calls = 0;
    server.use(
      ...signedInHandlers(),
      http.get('/v1/users/me/audit', () => {
        calls += 1;
        return calls === 1
          ? HttpResponse.json({ detail: 'psycopg OperationalError', code: 'service_unavailable' }, { status: 503 })
          : HttpResponse.json({ items: [event(1)], next_cursor: null });
      }),
    );
    const { user } = renderApp('/audit');
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('The service is busy right now.');
    expect(alert).not.toHaveTextContent('psycopg');
    await user.click(within(alert).getByRole('button', { name: 'Retry' }));
    expect(await screen.findByRole('table')).toBeInTheDocument();
  });

  // Every event type the service writes into a user's audit trail (service/user_service: each
  // `audit.record(...)` and the trading-account audit rows), so none reads as a bare fallback.
  const SERVICE_EVENT_TYPES = [
    'auth.reauthenticated',
    'credentials.released',
    'email.verification_sent',
    'email.verified',
    'identity.link_requested',
    'identity.linked',
    'identity.unlinked',
    'login.failed',
    'login.new_device',
    'login.rate_limited',
    'login.risk',
    'login.success',
    'logout',
    'mfa.backup_codes_regenerated',
    'mfa.disabled',
    'mfa.enabled',
    'mfa.factor_added',
    'mfa.factor_removed',
    'mfa.factor_renamed',
    'mfa.failed',
    'mfa.passkey_cloned',
    'mfa.step_up',
    'password.change_failed',
    'password.changed',
    'password.reset',
    'password.reset_requested',
    'permission.changed',
    'refresh.reuse_detected',
    'token.refreshed',
    'trading_account.credentials_rotated',
    'trading_account.credentials_unreadable',
    'trading_account.expired',
    'trading_account.link_expired',
    'trading_account.link_taken_over',
    'trading_account.linked',
    'trading_account.member_added',
    'trading_account.member_removed',
    'trading_account.member_updated',
    'trading_account.unlinked',
    'trading_account.verified',
    'user.deactivate_failed',
    'user.deactivated',
    'user.exported',
    'user.frozen',
    'user.identity_link_failed',
    'user.registered',
    'user.unfreeze_requested',
    'user.unfrozen',
    'user.updated',
  ];

  it('titles every event type the service records in plain words, and each falls in a filter group', () => {
    for (const type of SERVICE_EVENT_TYPES) {
      const title = eventTitle({ ...event(1, type), details: {} });
      expect(title, type).not.toBe('Account event');
      expect(title, type).not.toMatch(/[a-z]+[._][a-z]+/);
      const grouped = FILTER_GROUPS.some((group) =>
        group.types.some((pattern) =>
          pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern,
        ),
      );
      expect(grouped, type).toBe(true);
    }
  });

  it('says why a Kite check failed, after where it came from', () => {
    const failed = {
      ...event(1, 'trading_account.verified'),
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
      details: { user_id_broker: 'ZX1234', reason: 'access_token_expired', account_id: 'a-1' },
    };
    expect(eventSentence(failed)).toBe(
      'Kite check failed for Kite ZX1234 on Chrome on Linux from 203.0.113.x: Kite had ended the day’s session.',
    );
  });

  it('names factors and providers, never their ids', () => {
    expect(
      eventTitle({ ...event(1, 'mfa.factor_added'), details: { factor_id: 'f-1', type: 'passkey', name: 'Laptop' } }),
    ).toBe('Passkey “Laptop” added');
    expect(eventTitle({ ...event(1, 'identity.linked'), details: { provider: 'google', identity_id: 'i-1' } })).toBe(
      'Google account linked',
    );
    expect(eventTitle({ ...event(1, 'user.identity_link_failed'), details: { provider: 'google' } })).toBe(
      'Failed attempt to link a Google account',
    );
  });
});
