import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { signedInHandlers, server } from '../test/server';
import { renderApp } from '../test/render';
import { endOfDayIso, startOfDayIso } from './AuditPage';

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
    expect(last.getAll('event_type')).toEqual(['mfa.*', 'password.*', 'user.*', 'email.*', 'permission.*']);
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
});
