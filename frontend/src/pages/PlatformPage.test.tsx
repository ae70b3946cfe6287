import { screen, waitFor, within } from '@testing-library/react';
import { delay, http, HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RECONNECT_DELAYS_MS } from '../components/platform/useQuoteStream';
import { refreshAccessToken } from '../services/apiClient';
import { FakeWebSocket } from '../test/fakeWebSocket';
import { renderApp } from '../test/render';
import { apiError, makeUser, server, signedInHandlers } from '../test/server';

const BACKEND = 'http://127.0.0.1:8081';
const ALERTS = 'http://127.0.0.1:8082';

const positions = [
  { symbol: 'NIFTY24DECFUT', quantity: 50, average_price: 24000, last_price: 24100.5, pnl: 5025 },
  { symbol: 'BANKNIFTY24DEC52000CE', quantity: -25, average_price: 310, last_price: 330, pnl: -500 },
];

const infyAlert = {
  alert_id: 'al-1',
  user_id: 'u-1',
  symbol: 'NSE:INFY',
  condition: 'above',
  price: 1500,
  note: 'breakout',
  created_at: '2026-11-30T09:00:00+00:00',
  updated_at: '2026-11-30T09:00:00+00:00',
};

function platformHandlers({ alerts = [infyAlert] as Array<Record<string, unknown>> } = {}) {
  return [
    http.get(`${BACKEND}/api/positions`, () => HttpResponse.json({ auth_method: 'jwt', user_id: 'u-1', positions })),
    http.get(`${ALERTS}/alerts`, () => HttpResponse.json({ items: alerts, next_cursor: null })),
  ];
}

function quote(symbol: string, price: number, second = 1) {
  return {
    type: 'quote',
    account_id: 'acc-1',
    symbol,
    last_price: price,
    timestamp: `2026-11-30T09:15:0${second}+00:00`,
  };
}

/** Every refresh hands out the next token: at-1 (start-up), at-2, … */
function rotatingRefresh() {
  let tokens = 0;
  return http.post('/v1/auth/refresh', () => {
    tokens += 1;
    return HttpResponse.json({ access_token: `at-${tokens}`, expires_in: 900 });
  });
}

/** The ticker accepts the socket and lists one streaming account. */
function acceptWithAccount(socket = FakeWebSocket.latest()) {
  socket.accept();
  socket.receive({ type: 'accounts', accounts: [{ account_id: 'acc-1', user_id_broker: 'ZX1234' }] });
  return socket;
}

async function openPlatform() {
  const utils = renderApp('/platform');
  await screen.findByRole('heading', { level: 1, name: 'Platform' });
  await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
  return utils;
}

/** Runs `fn` with two 10 ms automatic reconnections instead of the real waits. */
async function withShortReconnects(fn: () => Promise<void>) {
  const delays = [...RECONNECT_DELAYS_MS];
  RECONNECT_DELAYS_MS.splice(0, delays.length, 10, 10);
  try {
    await fn();
  } finally {
    RECONNECT_DELAYS_MS.splice(0, RECONNECT_DELAYS_MS.length, ...delays);
  }
}

const quotesCard = () => screen.getByRole('region', { name: 'Live quotes' });
const positionsCard = () => screen.getByRole('region', { name: 'Positions' });
const alertsCard = () => screen.getByRole('region', { name: 'Price alerts' });
const streamStatus = () => within(quotesCard()).getAllByRole('status')[0]!;

beforeEach(() => {
  FakeWebSocket.reset();
  vi.stubGlobal('WebSocket', FakeWebSocket);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('PlatformPage', () => {
  it('shows loading states while the services answer', async () => {
    server.use(
      ...signedInHandlers(),
      http.get(`${BACKEND}/api/positions`, async () => {
        await delay('infinite');
        return HttpResponse.json({});
      }),
      http.get(`${ALERTS}/alerts`, async () => {
        await delay('infinite');
        return HttpResponse.json({});
      }),
    );
    await openPlatform();
    expect(within(positionsCard()).getByText('Loading positions…')).toBeInTheDocument();
    expect(within(alertsCard()).getByText('Loading your alerts…')).toBeInTheDocument();
    expect(within(quotesCard()).getByText('Connecting to live quotes…')).toBeInTheDocument();
    expect(streamStatus()).toHaveTextContent('Connecting');
    expect(screen.getByRole('link', { name: 'Platform' })).toHaveAttribute('aria-current', 'page');
  });

  it('shows positions, live quotes over the bearer subprotocol, and the alerts', async () => {
    server.use(...signedInHandlers(), ...platformHandlers());
    await openPlatform();

    const socket = FakeWebSocket.latest();
    expect(socket.url).toBe('ws://127.0.0.1:8080/ws/quotes');
    expect(socket.protocols).toEqual(['bearer', 'at-1']);

    const table = await within(positionsCard()).findByRole('table');
    const rows = within(table).getAllByRole('row');
    expect(rows[1]).toHaveTextContent('NIFTY24DECFUT');
    expect(rows[1]).toHaveTextContent('₹24,100.50');
    expect(rows[1]).toHaveTextContent('+₹5,025.00');
    expect(rows[2]).toHaveTextContent('-25');
    expect(within(positionsCard()).getByText('+₹4,525.00')).toBeInTheDocument();

    acceptWithAccount(socket);
    expect(streamStatus()).toHaveTextContent('Live');
    socket.receive(quote('NSE:INFY', 1512.4, 1));
    socket.receive(quote('NSE:INFY', 1513.05, 2));
    const quoteTable = within(quotesCard()).getByRole('table', { name: 'Kite ZX1234' });
    const infy = within(quoteTable).getByRole('row', { name: /NSE:INFY/ });
    expect(infy).toHaveTextContent('₹1,513.05');
    expect(infy).toHaveTextContent('up ₹0.65');
    expect(infy).toHaveAttribute('data-updates', '2');

    const alerts = await within(alertsCard()).findByRole('list', { name: 'Your alerts' });
    expect(within(alerts).getByRole('listitem')).toHaveTextContent('NSE:INFY above ₹1,500.00');
    expect(within(alerts).getByRole('listitem')).toHaveTextContent('breakout');
  });

  it('says when the trader has no positions, alerts or streaming account', async () => {
    server.use(
      ...signedInHandlers(),
      http.get(`${BACKEND}/api/positions`, () =>
        HttpResponse.json({ auth_method: 'jwt', user_id: 'u-1', positions: [] }),
      ),
      http.get(`${ALERTS}/alerts`, () => HttpResponse.json({ items: [], next_cursor: null })),
    );
    await openPlatform();
    FakeWebSocket.latest().accept();
    FakeWebSocket.latest().receive({ type: 'accounts', accounts: [] });
    expect(await within(positionsCard()).findByText('You have no open positions.')).toBeInTheDocument();
    expect(await within(alertsCard()).findByText(/No alerts yet/)).toBeInTheDocument();
    expect(within(quotesCard()).getByText(/No trading account is streaming quotes/)).toBeInTheDocument();
    expect(within(quotesCard()).getByRole('link', { name: 'Link a Kite account' })).toHaveAttribute(
      'href',
      '/trading-accounts',
    );
  });

  it('creates an alert, checks the form first, and deletes one', async () => {
    let created: unknown;
    const deleted: string[] = [];
    server.use(
      ...signedInHandlers(),
      ...platformHandlers(),
      http.post(`${ALERTS}/alerts`, async ({ request }) => {
        created = await request.json();
        expect(request.headers.get('authorization')).toBe('Bearer at-1');
        return HttpResponse.json(
          { ...infyAlert, ...(created as object), alert_id: 'al-2', note: null },
          { status: 201 },
        );
      }),
      http.delete(`${ALERTS}/alerts/:id`, ({ params }) => {
        deleted.push(String(params.id));
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const { user } = await openPlatform();
    const card = alertsCard();
    await within(card).findByRole('list', { name: 'Your alerts' });

    await user.click(within(card).getByRole('button', { name: 'Create alert' }));
    expect(within(card).getByLabelText('Instrument')).toHaveAttribute('aria-invalid', 'true');
    expect(within(card).getByLabelText('Instrument')).toHaveFocus();
    expect(within(card).getByLabelText('Price (₹)')).toHaveAccessibleDescription(/Enter the price to watch for/);
    expect(created).toBeUndefined();

    await user.type(within(card).getByLabelText('Instrument'), 'nse:tcs');
    await user.selectOptions(within(card).getByLabelText('When the price goes'), 'below');
    await user.type(within(card).getByLabelText('Price (₹)'), '3900.5');
    await user.click(within(card).getByRole('button', { name: 'Create alert' }));
    expect(await within(card).findByText('Alert created: NSE:TCS below ₹3,900.50.')).toBeInTheDocument();
    expect(created).toEqual({ symbol: 'NSE:TCS', condition: 'below', price: 3900.5 });
    const list = within(card).getByRole('list', { name: 'Your alerts' });
    expect(within(list).getAllByRole('listitem')).toHaveLength(2);
    expect(within(card).getByLabelText('Instrument')).toHaveValue('');

    await user.click(within(card).getByRole('button', { name: 'Delete alert NSE:INFY above ₹1,500.00' }));
    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(1));
    expect(deleted).toEqual(['al-1']);
    expect(within(card).getByText('Deleted the alert NSE:INFY above ₹1,500.00.')).toBeInTheDocument();
  });

  it('shows the alert service’s field problems in plain words', async () => {
    server.use(
      ...signedInHandlers(),
      ...platformHandlers({ alerts: [] }),
      http.post(`${ALERTS}/alerts`, () =>
        HttpResponse.json(
          {
            detail: 'The request is not valid.',
            code: 'validation_error',
            errors: [{ field: 'price', message: 'Input should be less than 10000000' }],
          },
          { status: 422 },
        ),
      ),
    );
    const { user } = await openPlatform();
    const card = alertsCard();
    await within(card).findByText(/No alerts yet/);
    await user.type(within(card).getByLabelText('Instrument'), 'NSE:INFY');
    await user.type(within(card).getByLabelText('Price (₹)'), '12');
    await user.click(within(card).getByRole('button', { name: 'Create alert' }));
    expect(await within(card).findByRole('alert')).toHaveTextContent('Some details need your attention.');
    expect(within(card).getByLabelText('Price (₹)')).toHaveAccessibleDescription(/Enter a price above 0\./);
    expect(card).not.toHaveTextContent('validation_error');
    expect(card).not.toHaveTextContent('Input should be');
  });

  it('pauses and resumes alerts when the alert service supports it', async () => {
    const patches: unknown[] = [];
    server.use(
      ...signedInHandlers(),
      ...platformHandlers({ alerts: [{ ...infyAlert, active: true }] }),
      http.patch(`${ALERTS}/alerts/:id`, async ({ request }) => {
        const body = (await request.json()) as { active: boolean };
        patches.push(body);
        return HttpResponse.json({ ...infyAlert, active: body.active });
      }),
    );
    const { user } = await openPlatform();
    const toggle = await within(alertsCard()).findByRole('switch', { name: 'Alert NSE:INFY above ₹1,500.00 active' });
    expect(toggle).toBeChecked();
    await user.click(toggle);
    await waitFor(() => expect(toggle).not.toBeChecked());
    expect(within(alertsCard()).getByText('paused')).toBeInTheDocument();
    expect(patches).toEqual([{ active: false }]);
  });

  it('renews the socket’s token after every refresh', async () => {
    server.use(rotatingRefresh(), ...signedInHandlers(), ...platformHandlers());
    await openPlatform();
    const socket = acceptWithAccount();
    await refreshAccessToken();
    expect(socket.sentMessages()).toEqual([{ type: 'renew', token: 'at-2' }]);
    socket.receive({ type: 'renewed', expires_at: 1_900_000_000 });
    expect(streamStatus()).toHaveTextContent('Live');
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('stops the quotes and says so when the session is signed out on another device', async () => {
    server.use(...signedInHandlers(), ...platformHandlers());
    const { user, location } = await openPlatform();
    const socket = acceptWithAccount();
    socket.receive(quote('NSE:INFY', 1512.4));

    socket.serverClose(1008, 'Session revoked');
    const ended = await screen.findByRole('alert');
    expect(ended).toHaveTextContent('You were signed out on another device.');
    expect(ended).toHaveTextContent('Live quotes have stopped');
    await waitFor(() => expect(ended).toHaveFocus());
    expect(streamStatus()).toHaveTextContent('Stopped');
    expect(within(alertsCard()).getByRole('button', { name: 'Create alert' })).toBeDisabled();
    // The last prices stay on screen; no new connection is attempted.
    expect(within(quotesCard()).getByText('₹1,512.40')).toBeInTheDocument();
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAYS_MS[0]! + 200));
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(location()).toBe('/platform');

    await user.click(within(ended).getByRole('button', { name: 'Sign in again' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent(
      'You were signed out on another device. Sign in again to continue.',
    );
  });

  it('says so when the account was disabled while the page was open', async () => {
    server.use(...signedInHandlers(), ...platformHandlers());
    await openPlatform();
    acceptWithAccount().serverClose(1008, 'User disabled');
    const ended = await screen.findByRole('alert');
    expect(ended).toHaveTextContent('Your account is no longer active.');
    expect(within(ended).getByRole('button', { name: 'Go to sign in' })).toBeInTheDocument();
    expect(streamStatus()).toHaveTextContent('Stopped');
  });

  it('ends the page’s session on a 401 that a refresh cannot cure, without leaving the page', async () => {
    let refreshes = 0;
    server.use(
      http.get(`${BACKEND}/api/positions`, () => apiError(401, 'token_revoked', 'Token has been revoked.')),
      ...platformHandlers(),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
      http.post('/v1/auth/refresh', () => {
        refreshes += 1;
        return refreshes === 1
          ? HttpResponse.json({ access_token: 'at-1', expires_in: 900 })
          : apiError(401, 'session_revoked', 'The session was revoked.');
      }),
    );
    const { location } = await openPlatform();
    const socket = acceptWithAccount();
    const ended = await screen.findByRole('alert');
    expect(ended).toHaveTextContent('Your session has ended.');
    expect(ended).toHaveTextContent('You may have signed out on another device.');
    await waitFor(() => expect(socket.closedByClient).toEqual({ code: 1000 }));
    expect(streamStatus()).toHaveTextContent('Stopped');
    expect(location()).toBe('/platform');
    expect(refreshes).toBe(2);
    expect(screen.queryByText(/token_revoked/)).not.toBeInTheDocument();
  });

  it('refreshes once and reconnects when the ticker refuses an expired token', async () => {
    server.use(rotatingRefresh(), ...signedInHandlers(), ...platformHandlers());
    await openPlatform();
    const first = FakeWebSocket.latest();
    first.accept();
    first.serverClose(1008, 'Authentication token expired');
    await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(2));
    const second = FakeWebSocket.latest();
    expect(second.protocols).toEqual(['bearer', 'at-2']);
    acceptWithAccount(second);
    expect(streamStatus()).toHaveTextContent('Live');
  });

  it('says which service is down and keeps the rest of the page working', async () => {
    await withShortReconnects(async () => {
      server.use(
        http.get(`${BACKEND}/api/positions`, () => HttpResponse.error()),
        ...signedInHandlers(),
        ...platformHandlers(),
      );
      const { user } = await openPlatform();
      expect(await within(positionsCard()).findByText('Positions are unavailable right now.')).toBeInTheDocument();
      expect(await within(alertsCard()).findByRole('list', { name: 'Your alerts' })).toBeInTheDocument();

      // The ticker is down: the connection fails, twice more after a pause, then the trader decides.
      FakeWebSocket.latest().serverClose(1006);
      expect(within(quotesCard()).getByText(/Quotes are unavailable right now/)).toBeInTheDocument();
      await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(2));
      FakeWebSocket.latest().serverClose(1006);
      await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(3));
      FakeWebSocket.latest().serverClose(1006);
      const down = (await within(quotesCard()).findByText('Quotes are unavailable right now.')).closest(
        '.alert',
      ) as HTMLElement;
      expect(down).toHaveTextContent('Your positions and alerts still work.');
      expect(streamStatus()).toHaveTextContent('Unavailable');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(FakeWebSocket.instances).toHaveLength(3);

      await user.click(within(down).getByRole('button', { name: 'Try again' }));
      await waitFor(() => expect(FakeWebSocket.instances).toHaveLength(4));
      acceptWithAccount();
      expect(streamStatus()).toHaveTextContent('Live');
    });
  });

  it('treats a socket the browser refuses to open (the page’s CSP) like a ticker that is down', async () => {
    await withShortReconnects(async () => {
      let attempts = 0;
      vi.stubGlobal(
        'WebSocket',
        class {
          constructor() {
            attempts += 1;
            throw new DOMException('Refused to connect', 'SecurityError');
          }
        },
      );
      server.use(...signedInHandlers(), ...platformHandlers());
      renderApp('/platform');
      expect(
        await within(await screen.findByRole('region', { name: 'Live quotes' })).findByText(
          'Quotes are unavailable right now.',
        ),
      ).toBeInTheDocument();
      expect(attempts).toBe(3);
      expect(await within(alertsCard()).findByRole('list', { name: 'Your alerts' })).toBeInTheDocument();
    });
  });

  it('explains an unlinked account in plain words and does not reconnect by itself', async () => {
    server.use(...signedInHandlers(), ...platformHandlers());
    await openPlatform();
    const socket = acceptWithAccount();
    socket.receive({ type: 'account_error', account_id: 'acc-1', code: 'account_not_active' });
    expect(within(quotesCard()).getByText(/Not connected today/)).toBeInTheDocument();
    socket.serverClose(1008, 'Trading account unlinked');
    expect(
      within(quotesCard()).getByText('A trading account was unlinked, so its live quotes stopped.'),
    ).toBeInTheDocument();
    expect(within(quotesCard()).getByRole('button', { name: 'Reconnect' })).toBeInTheDocument();
    expect(screen.queryByText(/signed out/)).not.toBeInTheDocument();
    expect(quotesCard()).not.toHaveTextContent('account_not_active');
  });
});
