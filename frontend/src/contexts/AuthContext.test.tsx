import { screen, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiClient, getAccessToken, setAccessToken } from '../services/apiClient';
import { refreshDelayMs } from './AuthContext';
import { apiError, makeUser, server } from '../test/server';
import { renderApp } from '../test/render';

const session = {
  session_id: 's-1',
  created_at: '2025-01-01T10:00:00Z',
  last_active_at: '2025-01-01T10:00:00Z',
  ip: '203.0.113.x',
  user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0',
  device: 'Chrome on Linux',
  current: true,
};

/** An in-process stand-in for BroadcastChannel (the real one is disabled in tests). */
class FakeChannel {
  static channels = new Set<FakeChannel>();
  onmessage: ((event: MessageEvent) => void) | null = null;
  constructor(readonly name: string) {
    FakeChannel.channels.add(this);
  }
  postMessage(data: unknown) {
    for (const other of FakeChannel.channels) {
      if (other !== this && other.name === this.name) other.onmessage?.({ data } as MessageEvent);
    }
  }
  close() {
    FakeChannel.channels.delete(this);
  }
}

afterEach(() => vi.unstubAllGlobals());

describe('AuthContext', () => {
  it('restores the session from the refresh cookie on start-up (a reload keeps you signed in)', async () => {
    let meAuth: string | null = null;
    server.use(
      http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at-boot', expires_in: 900 })),
      http.get('/v1/users/me', ({ request }) => {
        meAuth = request.headers.get('Authorization');
        return HttpResponse.json(makeUser());
      }),
    );
    const { location } = renderApp('/profile');
    expect(await screen.findByRole('heading', { level: 1, name: 'Profile' })).toBeInTheDocument();
    expect(location()).toBe('/profile');
    expect(meAuth).toBe('Bearer at-boot');
    expect(getAccessToken()).toBe('at-boot');
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
  });

  it('refreshes once on a 401 and retries the request with the new token', async () => {
    let refreshes = 0;
    const seen: (string | null)[] = [];
    server.use(
      http.post('/v1/auth/refresh', () => {
        refreshes += 1;
        return HttpResponse.json({ access_token: `at-${refreshes}`, expires_in: 900 });
      }),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
      http.get('/v1/auth/sessions', ({ request }) => {
        const auth = request.headers.get('Authorization');
        seen.push(auth);
        return auth === 'Bearer at-2'
          ? HttpResponse.json({ sessions: [session] })
          : apiError(401, 'token_expired', 'The access token has expired.');
      }),
    );
    renderApp('/sessions');
    expect(await screen.findByText('Chrome on Linux')).toBeInTheDocument();
    expect(refreshes).toBe(2); // start-up + the one after the 401
    expect(seen).toEqual(['Bearer at-1', 'Bearer at-2']);
  });

  it('shares one refresh between concurrent 401s', async () => {
    let refreshes = 0;
    server.use(
      http.post('/v1/auth/refresh', async () => {
        refreshes += 1;
        await new Promise((resolve) => setTimeout(resolve, 30));
        return HttpResponse.json({ access_token: 'fresh', expires_in: 900 });
      }),
      http.get('/v1/thing/:n', ({ request, params }) =>
        request.headers.get('Authorization') === 'Bearer fresh'
          ? HttpResponse.json({ n: params.n })
          : apiError(401, 'token_expired', 'Expired.'),
      ),
    );
    setAccessToken('stale');
    const results = await Promise.all([1, 2, 3].map((n) => apiClient.get(`/v1/thing/${n}`)));
    expect(results.map((r) => r.data.n)).toEqual(['1', '2', '3']);
    expect(refreshes).toBe(1);
  });

  it('does not refresh when a 401 judges what the user typed', async () => {
    let refreshes = 0;
    server.use(
      http.post('/v1/auth/refresh', () => {
        refreshes += 1;
        return HttpResponse.json({ access_token: 'x', expires_in: 900 });
      }),
      http.post('/v1/auth/password/change', () =>
        apiError(401, 'invalid_credentials', 'The current password is wrong.'),
      ),
    );
    setAccessToken('valid');
    await expect(apiClient.post('/v1/auth/password/change', {})).rejects.toMatchObject({ response: { status: 401 } });
    expect(refreshes).toBe(0);
  });

  it('signs out and sends the user to /login when the refresh fails', async () => {
    let refreshes = 0;
    server.use(
      http.post('/v1/auth/refresh', () => {
        refreshes += 1;
        return refreshes === 1
          ? HttpResponse.json({ access_token: 'at-1', expires_in: 900 })
          : apiError(401, 'session_revoked', 'The session was revoked.');
      }),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
      http.get('/v1/auth/sessions', () => apiError(401, 'session_revoked', 'The session was revoked.')),
    );
    const { location } = renderApp('/sessions');
    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
    expect(location()).toBe('/login');
    expect(screen.getByRole('status')).toHaveTextContent('Your session has ended. Please sign in again.');
    expect(refreshes).toBe(2);
    expect(getAccessToken()).toBeNull();
  });

  it('retries only once: a second 401 after a successful refresh ends the session', async () => {
    let refreshes = 0;
    let calls = 0;
    server.use(
      http.post('/v1/auth/refresh', () => {
        refreshes += 1;
        return HttpResponse.json({ access_token: `at-${refreshes}`, expires_in: 900 });
      }),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
      http.get('/v1/auth/sessions', () => {
        calls += 1;
        return apiError(401, 'session_revoked', 'Revoked.');
      }),
    );
    const { location } = renderApp('/sessions');
    await waitFor(() => expect(location()).toBe('/login'));
    expect(calls).toBe(2);
    expect(refreshes).toBe(2);
  });

  it('refreshes shortly before the access token expires', async () => {
    let refreshes = 0;
    server.use(
      http.post('/v1/auth/refresh', () => {
        refreshes += 1;
        // A 2-second token: the next refresh is scheduled after 1 s.
        return HttpResponse.json({ access_token: `at-${refreshes}`, expires_in: refreshes === 1 ? 2 : 900 });
      }),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
    );
    renderApp('/');
    await screen.findByRole('heading', { level: 1, name: /Welcome/ });
    await waitFor(() => expect(refreshes).toBe(2), { timeout: 3000 });
    expect(getAccessToken()).toBe('at-2');
  });

  it('schedules refreshes a minute before expiry', () => {
    expect(refreshDelayMs(900)).toBe(840_000);
    expect(refreshDelayMs(60)).toBe(30_000);
    expect(refreshDelayMs(1)).toBe(1_000);
  });

  it('signs out through the API and clears the session', async () => {
    let body: unknown;
    server.use(
      http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at-1', expires_in: 900 })),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
      http.post('/v1/auth/logout', async ({ request }) => {
        body = await request.json();
        return HttpResponse.json({ sessions_revoked: 1 });
      }),
    );
    const { user, location } = renderApp('/');
    await user.click(await screen.findByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('You have signed out.');
    expect(location()).toBe('/login');
    expect(body).toEqual({ all_devices: false });
    expect(getAccessToken()).toBeNull();
  });

  it('signs out when another tab signs out', async () => {
    vi.stubGlobal('BroadcastChannel', FakeChannel);
    server.use(
      http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at-1', expires_in: 900 })),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
    );
    const { location } = renderApp('/profile');
    await screen.findByRole('heading', { level: 1, name: 'Profile' });
    new FakeChannel('quantagro-auth').postMessage({ type: 'logout' });
    await waitFor(() => expect(location()).toBe('/login'));
    expect(getAccessToken()).toBeNull();
  });
});
