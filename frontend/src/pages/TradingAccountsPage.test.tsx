import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { signedInHandlers, server } from '../test/server';
import { renderApp } from '../test/render';
import { KITE_PENDING_ACCOUNT_KEY, withRedirectParams } from './TradingAccountsPage';

const account = {
  account_id: 'acc-1',
  broker: 'kite',
  user_id_broker: 'AB1234',
  status: 'pending',
  created_at: '2025-01-01T00:00:00Z',
  role: 'owner',
  permissions: ['view', 'trade', 'manage'],
  api_key_masked: 'kite••••9f',
  verified_at: null,
  access_token_expires_at: null,
};

const noMembers = http.get('/v1/trading-accounts/:id/members', () =>
  HttpResponse.json({ items: [], next_cursor: null }),
);

afterEach(() => vi.unstubAllGlobals());

describe('TradingAccountsPage', () => {
  it('checks the link form on the client, then shows the API field errors inline', async () => {
    let calls = 0;
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [], next_cursor: null })),
      http.post('/v1/trading-accounts', () => {
        calls += 1;
        return HttpResponse.json(
          {
            detail: 'Some fields are invalid.',
            code: 'validation_error',
            errors: [{ field: 'api_key', message: 'The API key must be 16 to 32 letters or digits.', code: 'pattern' }],
          },
          { status: 422 },
        );
      }),
    );
    const { user } = renderApp('/trading-accounts');
    const submit = await screen.findByRole('button', { name: 'Link account' });
    await user.click(submit);
    expect(screen.getByLabelText('Kite client ID')).toHaveAccessibleDescription(/Enter your Kite client ID/);
    expect(screen.getByLabelText('API secret')).toHaveAttribute('aria-invalid', 'true');
    expect(calls).toBe(0);

    await user.type(screen.getByLabelText('Kite client ID'), 'AB1234');
    await user.type(screen.getByLabelText('API key'), 'x');
    await user.type(screen.getByLabelText('API secret'), 'secret');
    await user.click(submit);
    expect(await screen.findByRole('alert')).toHaveTextContent('Some fields need your attention.');
    expect(screen.getByLabelText('API key')).toHaveAccessibleDescription(/16 to 32 letters/);
    await waitFor(() => expect(screen.getByLabelText('API key')).toHaveFocus());
    expect(screen.getByLabelText('Kite client ID')).not.toHaveAttribute('aria-invalid');
  });

  it('links an account and lists it with its status', async () => {
    let body: Record<string, unknown> = {};
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [], next_cursor: null })),
      http.post('/v1/trading-accounts', async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(account, { status: 201 });
      }),
    );
    const { user } = renderApp('/trading-accounts');
    await user.type(await screen.findByLabelText('Kite client ID'), 'AB1234');
    await user.type(screen.getByLabelText('API key'), 'kiteapikey123456');
    await user.type(screen.getByLabelText('API secret'), 'kitesecret');
    await user.click(screen.getByRole('button', { name: 'Link account' }));
    const list = await screen.findByRole('list', { name: 'Linked trading accounts' });
    expect(within(list).getByText('Not connected')).toBeInTheDocument();
    expect(within(list).getByRole('button', { name: 'Verify' })).toBeDisabled();
    expect(within(list).getByText(/Connect with Kite first/)).toBeInTheDocument();
    expect(body).toEqual({
      broker: 'kite',
      user_id_broker: 'AB1234',
      api_key: 'kiteapikey123456',
      api_secret: 'kitesecret',
    });
    expect(screen.getByRole('status')).toHaveTextContent('Kite account AB1234 was linked.');
  });

  it('hands off to Kite with the account id kept for the return trip', async () => {
    const assign = vi.fn();
    vi.stubGlobal('location', { ...window.location, assign, origin: window.location.origin });
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [account], next_cursor: null })),
      http.get('/v1/trading-accounts/acc-1/kite/login-url', () =>
        HttpResponse.json({ login_url: 'http://kite.test/connect/login?api_key=k&v=3' }),
      ),
    );
    const { user } = renderApp('/trading-accounts');
    await user.click(await screen.findByRole('button', { name: 'Connect with Kite' }));
    await waitFor(() => expect(assign).toHaveBeenCalledTimes(1));
    const target = new URL(assign.mock.calls[0]![0] as string);
    expect(target.origin).toBe('http://kite.test');
    expect(target.searchParams.get('api_key')).toBe('k');
    expect(target.searchParams.get('redirect_params')).toBe('account=acc-1');
    expect(sessionStorage.getItem(KITE_PENDING_ACCOUNT_KEY)).toBe('acc-1');
  });

  it('exchanges the request token on return from Kite', async () => {
    let exchanged: unknown;
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.post('/v1/trading-accounts/acc-1/kite/session', async ({ request }) => {
        exchanged = await request.json();
        return HttpResponse.json({ ...account, status: 'active' });
      }),
      http.get('/v1/trading-accounts', () =>
        HttpResponse.json({ items: [{ ...account, status: 'active' }], next_cursor: null }),
      ),
    );
    sessionStorage.setItem(KITE_PENDING_ACCOUNT_KEY, 'acc-1');
    const { location } = renderApp('/trading-accounts/kite-callback?request_token=rt-9&action=login&status=success');
    expect(await screen.findByText('Kite account AB1234 is connected for today.')).toBeInTheDocument();
    expect(location()).toBe('/trading-accounts');
    expect(exchanged).toEqual({ request_token: 'rt-9' });
    expect(sessionStorage.getItem(KITE_PENDING_ACCOUNT_KEY)).toBeNull();
  });

  it('asks for confirmation before unlinking', async () => {
    let deleted = false;
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [account], next_cursor: null })),
      http.delete('/v1/trading-accounts/acc-1', () => {
        deleted = true;
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { user } = renderApp('/trading-accounts');
    await user.click(await screen.findByRole('button', { name: 'Unlink' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Unlink AB1234?' });
    await user.keyboard('{Escape}');
    expect(dialog).not.toBeInTheDocument();
    expect(deleted).toBe(false);

    await user.click(screen.getByRole('button', { name: 'Unlink' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Unlink account' }));
    await waitFor(() => expect(deleted).toBe(true));
    expect(await screen.findByText(/AB1234 was unlinked and its credentials destroyed/)).toBeInTheDocument();
  });

  it('shares with a member and removes them', async () => {
    let added: unknown;
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [account], next_cursor: null })),
      http.post('/v1/trading-accounts/acc-1/members', async ({ request }) => {
        added = await request.json();
        return HttpResponse.json(
          {
            user_id: 'u-2',
            email: 'ravi@example.com',
            name: 'Ravi Kumar',
            permissions: ['view', 'trade'],
            added_by: 'u-1',
            created_at: '2025-01-01T00:00:00Z',
          },
          { status: 201 },
        );
      }),
      http.delete('/v1/trading-accounts/acc-1/members/u-2', () => new HttpResponse(null, { status: 204 })),
    );
    const { user } = renderApp('/trading-accounts');
    await user.click(await screen.findByRole('button', { name: 'Share' }));
    await user.type(screen.getByLabelText('Their email'), 'ravi@example.com');
    await user.click(screen.getByRole('checkbox', { name: /Trade/ }));
    await user.click(within(screen.getByRole('form', { name: 'Share AB1234' })).getByRole('button', { name: 'Share' }));
    expect(await screen.findByText(/ravi@example.com/, { selector: '.members__list span' })).toBeInTheDocument();
    expect(added).toEqual({ email: 'ravi@example.com', permissions: ['view', 'trade'] });
    expect(screen.getByRole('status')).toHaveTextContent('Shared AB1234 with ravi@example.com');
    await user.click(screen.getByRole('button', { name: 'Remove ravi@example.com' }));
    const dialog = await screen.findByRole('alertdialog', { name: 'Remove ravi@example.com?' });
    await user.click(within(dialog).getByRole('button', { name: 'Remove access' }));
    await waitFor(() =>
      expect(screen.queryByRole('button', { name: 'Remove ravi@example.com' })).not.toBeInTheDocument(),
    );
    expect(screen.getByRole('status')).toHaveTextContent('ravi@example.com no longer has access to AB1234.');
    expect(screen.getByRole('status')).not.toHaveTextContent('Shared AB1234');
  });

  it('asks before giving Manage', async () => {
    let added = 0;
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [account], next_cursor: null })),
      http.post('/v1/trading-accounts/acc-1/members', () => {
        added += 1;
        return HttpResponse.json(
          {
            user_id: 'u-2',
            email: 'ravi@example.com',
            name: 'Ravi',
            permissions: ['view', 'manage'],
            added_by: 'u-1',
            created_at: '2025-01-01T00:00:00Z',
          },
          { status: 201 },
        );
      }),
    );
    const { user } = renderApp('/trading-accounts');
    await user.click(await screen.findByRole('button', { name: 'Share' }));
    await user.type(screen.getByLabelText('Their email'), 'ravi@example.com');
    await user.click(screen.getByRole('checkbox', { name: /Manage/ }));
    await user.click(within(screen.getByRole('form', { name: 'Share AB1234' })).getByRole('button', { name: 'Share' }));
    const dialog = await screen.findByRole('alertdialog', { name: /Give ravi@example.com “Manage”\?/ });
    await user.keyboard('{Escape}');
    expect(added).toBe(0);
    await user.click(within(screen.getByRole('form', { name: 'Share AB1234' })).getByRole('button', { name: 'Share' }));
    await user.click(within(await screen.findByRole('alertdialog')).getByRole('button', { name: 'Give Manage' }));
    await waitFor(() => expect(added).toBe(1));
    expect(dialog).not.toBeInTheDocument();
  });

  it('shows a member the owner and Leave, and refetches when the account is gone', async () => {
    let listed = 0;
    const shared = {
      ...account,
      status: 'active',
      access_token_expires_at: '2099-01-01T00:30:00Z',
      role: 'member',
      permissions: ['view', 'trade'],
      owner: { name: 'Asha Rao', email: 'asha@example.com' },
    };
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => {
        listed += 1;
        return HttpResponse.json({ items: listed === 1 ? [shared] : [], next_cursor: null });
      }),
      http.post('/v1/trading-accounts/acc-1/verify', () =>
        HttpResponse.json({ detail: 'No such trading account.', code: 'trading_account_not_found' }, { status: 404 }),
      ),
    );
    const { user } = renderApp('/trading-accounts');
    expect(await screen.findByText('Owner: Asha Rao (asha@example.com)')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Leave' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Unlink' })).not.toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByText(/This account \(AB1234\) is no longer shared with you/)).toBeInTheDocument();
    await waitFor(() => expect(listed).toBe(2));
    expect(screen.queryByText('No such trading account.')).not.toBeInTheDocument();
  });

  it('lists the members an account is already shared with', async () => {
    server.use(
      ...signedInHandlers(),
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [account], next_cursor: null })),
      http.get('/v1/trading-accounts/acc-1/members', () =>
        HttpResponse.json({
          items: [
            {
              user_id: 'u-3',
              email: 'meera@example.com',
              name: 'Meera',
              permissions: ['view'],
              added_by: 'u-1',
              created_at: '2025-01-01T00:00:00Z',
            },
          ],
          next_cursor: null,
        }),
      ),
    );
    renderApp('/trading-accounts');
    expect(await screen.findByRole('button', { name: 'Remove meera@example.com' })).toBeInTheDocument();
  });

  it('says in plain words that Kite ended the session, without the API wording', async () => {
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () =>
        HttpResponse.json({
          items: [{ ...account, status: 'active', access_token_expires_at: '2099-01-01T00:30:00Z' }],
          next_cursor: null,
        }),
      ),
      http.post('/v1/trading-accounts/acc-1/verify', () =>
        HttpResponse.json({
          ...account,
          status: 'expired',
          access_token_expires_at: '2020-01-01T00:30:00Z',
          reason: 'access_token_expired',
        }),
      ),
    );
    const { user } = renderApp('/trading-accounts');
    const verify = await screen.findByRole('button', { name: 'Verify' });
    expect(verify).toHaveClass('btn--primary');
    await user.click(verify);
    expect(await screen.findByRole('alert')).toHaveTextContent('Kite ends sessions daily at 6:00');
    expect(screen.getByRole('alert')).not.toHaveTextContent('access_token_expired');
    expect(screen.getAllByText(/Kite ends sessions daily/)).toHaveLength(1);
    expect(screen.getByText('Session ended', { selector: '.badge' })).toBeInTheDocument();
    expect(screen.queryByText(/Token valid until/)).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Reconnect with Kite' })).toHaveClass('btn--primary');
  });

  it('never shows the server detail of a broker error', async () => {
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [account], next_cursor: null })),
      http.get('/v1/trading-accounts/acc-1/kite/login-url', () =>
        HttpResponse.json(
          { detail: 'Kite is unavailable (HTTP 503): Gateway error from OMS', code: 'broker_unavailable' },
          { status: 502 },
        ),
      ),
    );
    const { user } = renderApp('/trading-accounts');
    await user.click(await screen.findByRole('button', { name: 'Connect with Kite' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Kite is not answering right now.');
    expect(screen.getByRole('alert')).not.toHaveTextContent('HTTP 503');
  });

  it('shows the redirect URL to paste into the Kite Connect app', async () => {
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: [], next_cursor: null })),
    );
    renderApp('/trading-accounts');
    expect(await screen.findByText(`${window.location.origin}/trading-accounts/kite/callback`)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Copy redirect URL' })).toBeInTheDocument();
    expect(screen.getByLabelText('Kite client ID')).toHaveAccessibleDescription(/like ZX1234/);
  });

  it('adds redirect_params only when the login URL has none', () => {
    expect(withRedirectParams('http://k.test/connect/login?v=3&api_key=a', 'x')).toContain(
      'redirect_params=account%3Dx',
    );
    expect(withRedirectParams('http://k.test/connect/login?redirect_params=account%3Dy', 'x')).toContain('account%3Dy');
  });
});

describe('bounded sharing', () => {
  it('shares until a chosen time and shows when the access ends', async () => {
    let body: Record<string, unknown> | null = null;
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () =>
        HttpResponse.json({ items: [{ ...account, status: 'active' }], next_cursor: null }),
      ),
      http.post('/v1/trading-accounts/:id/members', async ({ request }) => {
        body = (await request.json()) as Record<string, unknown>;
        return HttpResponse.json(
          {
            user_id: 'u-2',
            email: 'ravi@example.com',
            name: 'Ravi',
            permissions: ['view', 'trade'],
            added_by: 'u-1',
            created_at: '2026-11-30T10:00:00Z',
            expires_at: body.expires_at,
          },
          { status: 201 },
        );
      }),
    );
    const { user } = renderApp('/trading-accounts');
    await user.click(await screen.findByRole('button', { name: 'Share' }));
    const form = screen.getByRole('form', { name: 'Share AB1234' });
    await user.type(within(form).getByLabelText('Their email'), 'ravi@example.com');
    await user.click(within(form).getByRole('checkbox', { name: /Trade/ }));
    const ends = within(form).getByLabelText(/Access ends/);
    await user.type(ends, '2099-01-31T18:30');
    await user.click(within(form).getByRole('button', { name: 'Share' }));
    await waitFor(() => expect(body).not.toBeNull());
    expect(body).toMatchObject({ email: 'ravi@example.com', permissions: ['view', 'trade'] });
    expect(new Date(String(body!.expires_at)).getTime()).toBe(new Date('2099-01-31T18:30').getTime());
    expect(await screen.findByText(/· until/)).toBeInTheDocument();
  });

  it('lets a member leave an account shared with them, and hides what they may not do', async () => {
    let left = false;
    const shared = {
      ...account,
      status: 'active',
      role: 'member',
      permissions: ['view', 'trade'],
      expires_at: '2099-01-01T00:00:00Z',
      frozen: false,
    };
    server.use(
      ...signedInHandlers(),
      http.get('/v1/trading-accounts', () => HttpResponse.json({ items: left ? [] : [shared], next_cursor: null })),
      http.delete('/v1/trading-accounts/:id/members/me', () => {
        left = true;
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { user } = renderApp('/trading-accounts');
    expect(await screen.findByText(/Your access ends/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Share' })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Unlink' })).not.toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Leave' }));
    await user.click(await screen.findByRole('button', { name: 'Leave account' }));
    await waitFor(() => expect(left).toBe(true));
    expect(await screen.findByText(/You left AB1234/)).toBeInTheDocument();
  });

  it('says when trading on an account is frozen', async () => {
    server.use(
      ...signedInHandlers(),
      noMembers,
      http.get('/v1/trading-accounts', () =>
        HttpResponse.json({ items: [{ ...account, status: 'active', frozen: true }], next_cursor: null }),
      ),
    );
    renderApp('/trading-accounts');
    expect(await screen.findByText('Trading is frozen.')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Share' })).toBeDisabled();
  });
});
