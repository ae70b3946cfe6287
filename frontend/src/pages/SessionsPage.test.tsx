import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { signedInHandlers, server } from '../test/server';
import { renderApp } from '../test/render';

const sessions = [
  {
    session_id: 's-other',
    created_at: '2025-01-01T08:00:00Z',
    last_active_at: '2025-01-01T09:00:00Z',
    ip: '198.51.100.x',
    user_agent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1',
    device: null,
    current: false,
  },
  {
    session_id: 's-current',
    created_at: '2025-01-02T08:00:00Z',
    last_active_at: '2025-01-02T09:00:00Z',
    ip: '203.0.113.x',
    user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0',
    device: 'Chrome on Linux',
    current: true,
  },
];

describe('SessionsPage', () => {
  it('shows what was new about a risky sign-in: country, reasons and score', async () => {
    const risky = [
      {
        ...sessions[0],
        country: 'GB',
        risk_score: 100,
        risk_reasons: ['new_network', 'new_country', 'impossible_travel'],
      },
      { ...sessions[1], country: 'IN', risk_score: 0, risk_reasons: [] },
    ];
    server.use(
      ...signedInHandlers(),
      http.get('/v1/auth/sessions', () => HttpResponse.json({ sessions: risky })),
    );
    renderApp('/sessions');
    const list = await screen.findByRole('list', { name: 'Active sessions' });
    const items = within(list).getAllByRole('listitem');
    const current = items[0] as HTMLElement;
    const other = items[1] as HTMLElement;
    expect(current).toHaveTextContent('Country IN');
    expect(within(current).queryByLabelText(/Sign-in risk/)).toBeNull();
    expect(other).toHaveTextContent('Country GB');
    const risk = within(other).getByLabelText('Sign-in risk 100 of 100');
    expect(risk).toHaveTextContent('New network');
    expect(risk).toHaveTextContent('New country');
    expect(risk).toHaveTextContent('Impossible travel');
    expect(risk).toHaveTextContent('Risk 100/100');
  });

  it('lists sessions with this device first and revokes another one', async () => {
    const deleted: string[] = [];
    server.use(
      ...signedInHandlers(),
      http.get('/v1/auth/sessions', () => HttpResponse.json({ sessions })),
      http.delete('/v1/auth/sessions/:id', ({ params }) => {
        deleted.push(String(params.id));
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { user } = renderApp('/sessions');
    const list = await screen.findByRole('list', { name: 'Active sessions' });
    const items = within(list).getAllByRole('listitem');
    expect(items[0]).toHaveTextContent('Chrome on Linux');
    expect(items[0]).toHaveTextContent('This device');
    expect(items[0]).toHaveTextContent('IP 203.0.113.x');
    expect(items[1]).toHaveTextContent('Safari on iOS');

    await user.click(screen.getByRole('button', { name: 'Revoke Safari on iOS' }));
    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(1));
    expect(deleted).toEqual(['s-other']);
    expect(screen.getByRole('status')).toHaveTextContent('Signed out Safari on iOS.');
  });

  it('shows an error when revoking fails and keeps the session in the list', async () => {
    server.use(
      ...signedInHandlers(),
      http.get('/v1/auth/sessions', () => HttpResponse.json({ sessions })),
      http.delete('/v1/auth/sessions/:id', () =>
        HttpResponse.json({ detail: 'Session not found.', code: 'not_found' }, { status: 404 }),
      ),
    );
    const { user } = renderApp('/sessions');
    await user.click(await screen.findByRole('button', { name: 'Revoke Safari on iOS' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('We could not find what you asked for.');
    expect(within(screen.getByRole('list', { name: 'Active sessions' })).getAllByRole('listitem')).toHaveLength(2);
  });

  it('signs out everywhere after confirmation', async () => {
    let body: unknown;
    server.use(
      ...signedInHandlers(),
      http.get('/v1/auth/sessions', () => HttpResponse.json({ sessions })),
      http.post('/v1/auth/logout', async ({ request }) => {
        body = await request.json();
        return HttpResponse.json({ sessions_revoked: 2 });
      }),
    );
    const { user, location } = renderApp('/sessions');
    await screen.findByRole('list', { name: 'Active sessions' });
    await user.click(screen.getByRole('button', { name: 'Sign out everywhere' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Sign out everywhere?' });
    expect(within(dialog).getByRole('button', { name: 'Cancel' })).toHaveFocus();
    await user.click(within(dialog).getByRole('button', { name: 'Sign out everywhere' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
    expect(location()).toBe('/login');
    expect(screen.getByRole('status')).toHaveTextContent('You have signed out on all devices.');
    expect(body).toEqual({ all_devices: true });
  });
});
