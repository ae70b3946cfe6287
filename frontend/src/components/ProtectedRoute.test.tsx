import { screen } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { makeUser, server } from '../test/server';
import { renderApp } from '../test/render';

describe('ProtectedRoute', () => {
  it('redirects an anonymous visitor to /login and back to the page asked for after signing in', async () => {
    server.use(
      http.post('/v1/auth/login', () =>
        HttpResponse.json({ access_token: 'at', token_type: 'bearer', expires_in: 900, user: makeUser() }),
      ),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
      http.get('/v1/users/me/audit', () => HttpResponse.json({ items: [], next_cursor: null })),
    );
    const { user, location } = renderApp('/audit?x=1');
    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
    expect(location()).toBe('/login');

    await user.type(screen.getByLabelText('Email'), 'asha@example.com');
    await user.type(screen.getByLabelText('Password'), 'Correct-horse-42');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Activity' })).toBeInTheDocument();
    expect(location()).toBe('/audit?x=1');
  });

  it('shows a loader, not the login page, while the session is being restored', async () => {
    server.use(
      http.post('/v1/auth/refresh', async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return HttpResponse.json({ access_token: 'at', expires_in: 900 });
      }),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
    );
    const { location } = renderApp('/');
    expect(screen.getByText('Checking your session…')).toBeInTheDocument();
    expect(await screen.findByRole('heading', { level: 1, name: /Welcome/ })).toBeInTheDocument();
    expect(location()).toBe('/');
  });

  it('sends a signed-in user away from /login', async () => {
    server.use(
      http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at', expires_in: 900 })),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
    );
    const { location } = renderApp('/login');
    expect(await screen.findByRole('heading', { level: 1, name: /Welcome/ })).toBeInTheDocument();
    expect(location()).toBe('/');
  });

  it('after signing out, signing in again starts at home rather than the page left behind', async () => {
    let signedIn = true;
    server.use(
      http.post('/v1/auth/refresh', () =>
        signedIn
          ? HttpResponse.json({ access_token: 'at', expires_in: 900 })
          : HttpResponse.json({ detail: 'No session.', code: 'missing_refresh_token' }, { status: 401 }),
      ),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
      http.post('/v1/auth/logout', () => {
        signedIn = false;
        return HttpResponse.json({ sessions_revoked: 1 });
      }),
      http.post('/v1/auth/login', () =>
        HttpResponse.json({ access_token: 'at2', token_type: 'bearer', expires_in: 900, user: makeUser() }),
      ),
    );
    const { user, location } = renderApp('/profile');
    await user.click(await screen.findByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
    await user.type(screen.getByLabelText('Email'), 'asha@example.com');
    await user.type(screen.getByLabelText('Password'), 'Correct-horse-42');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { level: 1, name: /Welcome/ })).toBeInTheDocument();
    expect(location()).toBe('/');
  });
});
