import { screen } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { makeUser, server } from '../test/server';
import { renderApp } from '../test/render';

describe('email verification', () => {
  it('posts the token from the link once and confirms', async () => {
    const tokens: unknown[] = [];
    server.use(
      http.post('/v1/auth/email/verify', async ({ request }) => {
        tokens.push(await request.json());
        return HttpResponse.json({});
      }),
    );
    renderApp('/verify-email?token=tok-1');
    expect(await screen.findByText('Your email address is verified. Thank you!')).toBeInTheDocument();
    expect(tokens).toEqual([{ token: 'tok-1' }]);
  });

  it.each([
    ['token_expired', 'This link has expired'],
    ['token_replaced', 'This link was replaced by a newer e-mail'],
    ['email_already_verified', 'Your e-mail is already verified'],
  ])('explains a dead link (%s)', async (reason, text) => {
    server.use(
      http.post('/v1/auth/email/verify', () =>
        HttpResponse.json({ detail: 'raw', code: 'verification_token_invalid', reason }, { status: 400 }),
      ),
    );
    renderApp('/verify-email?token=old');
    expect(await screen.findByText(new RegExp(text))).toBeInTheDocument();
    expect(screen.queryByText('raw')).not.toBeInTheDocument();
  });

  it('shows a banner with Resend on signed-in pages while the address is unverified', async () => {
    let resent = 0;
    server.use(
      http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at', expires_in: 900 })),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser({ email_verified: false }))),
      http.post('/v1/auth/email/resend', () => {
        resent += 1;
        return HttpResponse.json({}, { status: 202 });
      }),
    );
    const { user } = renderApp('/');
    const banner = await screen.findByRole('region', { name: 'Email verification' });
    expect(banner).toHaveTextContent('Verify your email address.');
    await user.click(screen.getByRole('button', { name: 'Resend email' }));
    expect(await screen.findByText('A new link is on its way.')).toBeInTheDocument();
    expect(resent).toBe(1);
  });
});
