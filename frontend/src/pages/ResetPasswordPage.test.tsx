import { screen } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { apiError, server } from '../test/server';
import { renderApp } from '../test/render';

const CHECK = '/v1/auth/password/reset/check';

describe('the reset link', () => {
  it('is checked first, with the token in the body, and then shows the form', async () => {
    const bodies: unknown[] = [];
    server.use(
      http.post(CHECK, async ({ request }) => {
        bodies.push(await request.json());
        return new HttpResponse(null, { status: 204 });
      }),
    );
    renderApp('/reset-password?token=tok-1');
    expect(await screen.findByRole('heading', { level: 1, name: 'Choose a new password' })).toBeInTheDocument();
    expect(bodies).toEqual([{ token: 'tok-1' }]);
  });

  it('says a used link was used and never shows the form', async () => {
    server.use(http.post(CHECK, () => apiError(400, 'reset_token_invalid', 'raw', { reason: 'token_used' })));
    renderApp('/reset-password?token=tok-1');
    expect(await screen.findByRole('alert')).toHaveTextContent('This link was already used.');
    expect(screen.queryByLabelText('New password')).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Retry' })).not.toBeInTheDocument();
  });

  it('offers Retry after a server error and checks again', async () => {
    let calls = 0;
    server.use(
      http.post(CHECK, () => {
        calls += 1;
        return calls === 1 ? apiError(503, 'service_unavailable', 'psycopg') : new HttpResponse(null, { status: 204 });
      }),
    );
    const { user } = renderApp('/reset-password?token=tok-1');
    const alert = await screen.findByRole('alert');
    expect(alert).not.toHaveTextContent('psycopg');
    await user.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Choose a new password' })).toBeInTheDocument();
    expect(calls).toBe(2);
  });

  it('keeps Retry disabled while a rate limit lasts, counting down', async () => {
    server.use(http.post(CHECK, () => apiError(429, 'rate_limited', '20 per 1 hour', {}, { 'Retry-After': '2' })));
    renderApp('/reset-password?token=tok-1');
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Too many attempts. Try again in 2 seconds.');
    expect(alert).not.toHaveTextContent('per 1 hour');
    expect(screen.getByRole('button', { name: 'Retry' })).toBeDisabled();
    expect(await screen.findByText(/Try again in 1 second\./, {}, { timeout: 2500 })).toBeInTheDocument();
    await screen.findByText('You can try again now.', {}, { timeout: 2500 });
    expect(screen.getByRole('button', { name: 'Retry' })).toBeEnabled();
  });
});
