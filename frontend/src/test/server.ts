import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import type { User } from '../api/types';

export function makeUser(overrides: Partial<User> = {}): User {
  return {
    user_id: 'u-1',
    email: 'asha@example.com',
    email_verified: true,
    name: 'Asha Rao',
    phone: null,
    timezone: 'Asia/Kolkata',
    locale: 'en-IN',
    status: 'active',
    roles: ['user'],
    mfa_enabled: false,
    created_at: '2025-01-02T03:04:05Z',
    frozen: false,
    frozen_at: null,
    ...overrides,
  };
}

export function apiError(
  status: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  return HttpResponse.json({ detail, code, ...extra }, { status, headers });
}

/** Nobody is signed in: the start-up refresh fails. */
export const anonymousHandlers = [
  http.post('/v1/auth/refresh', () => apiError(401, 'invalid_refresh_token', 'No valid session.')),
];

/** A signed-in browser: the refresh cookie works and `/users/me` answers. */
export function signedInHandlers(user: User = makeUser(), token = 'at-1') {
  return [
    http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: token, expires_in: 900 })),
    http.get('/v1/users/me', () => HttpResponse.json(user)),
  ];
}

/** No identity provider configured and nothing linked (tests of Google sign-in add theirs). */
export const identityHandlers = [
  http.get('/v1/auth/providers', () => HttpResponse.json({ providers: [] })),
  http.get('/v1/users/me/identities', () => HttpResponse.json({ items: [], next_cursor: null, has_password: true })),
];

export const server = setupServer(...anonymousHandlers, ...identityHandlers);
