import { screen, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { apiError, makeUser, server } from '../test/server';
import { renderApp } from '../test/render';

const tokens = (token = 'at-login') => ({
  access_token: token,
  token_type: 'bearer',
  expires_in: 900,
  user: makeUser(),
});

/** Password step (MFA on), then one code; the verify handler decides what comes back. */
async function oneWrongCode() {
  server.use(
    http.post('/v1/auth/login', () =>
      HttpResponse.json({ status: 'mfa_required', session_token: 'mfa-st', methods: ['totp'] }),
    ),
  );
  const { user } = renderApp('/login');
  await user.type(await screen.findByLabelText('Email'), 'asha@example.com');
  await user.type(screen.getByLabelText('Password'), 'Correct-horse-42');
  await user.click(screen.getByRole('button', { name: 'Sign in' }));
  await user.type(await screen.findByLabelText('Authentication code'), '123456');
  await user.click(screen.getByRole('button', { name: 'Verify' }));
  return user;
}

describe('LoginPage', () => {
  it('signs in and lands on the home page', async () => {
    let body: unknown;
    server.use(
      http.post('/v1/auth/login', async ({ request }) => {
        body = await request.json();
        return HttpResponse.json(tokens());
      }),
      http.get('/v1/users/me', ({ request }) =>
        request.headers.get('Authorization') === 'Bearer at-login'
          ? HttpResponse.json(makeUser())
          : apiError(401, 'unauthorized', 'No.'),
      ),
    );
    const { user, location } = renderApp('/login');
    await user.type(await screen.findByLabelText('Email'), '  Asha@Example.com ');
    await user.type(screen.getByLabelText('Password'), 'Correct-horse-42');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { level: 1, name: /Welcome, Asha/ })).toBeInTheDocument();
    expect(location()).toBe('/');
    expect(body).toEqual({ email: 'Asha@Example.com', password: 'Correct-horse-42', persist_session: false });
  });

  it('shows plain words (never the API detail) on wrong credentials and clears the password', async () => {
    server.use(http.post('/v1/auth/login', () => apiError(401, 'invalid_credentials', 'Raw detail from the server.')));
    const { user } = renderApp('/login');
    await user.type(await screen.findByLabelText('Email'), 'asha@example.com');
    await user.type(screen.getByLabelText('Password'), 'wrong-password');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('The email or password is incorrect.');
    expect(alert).not.toHaveTextContent('Raw detail');
    expect(screen.getByLabelText('Password')).toHaveValue('');
  });

  it('validates required fields on the client and focuses the first invalid one', async () => {
    const { user } = renderApp('/login');
    await user.click(await screen.findByRole('button', { name: 'Sign in' }));
    expect(screen.getByText('Enter your email address.')).toBeInTheDocument();
    expect(screen.getByLabelText('Email')).toHaveAttribute('aria-invalid', 'true');
    await waitFor(() => expect(screen.getByLabelText('Email')).toHaveFocus());
  });

  it('tells how long to wait when rate limited', async () => {
    server.use(
      http.post('/v1/auth/login', () =>
        apiError(429, 'rate_limited', 'Too many attempts.', {}, { 'Retry-After': '120' }),
      ),
    );
    const { user } = renderApp('/login');
    await user.type(await screen.findByLabelText('Email'), 'asha@example.com');
    await user.type(screen.getByLabelText('Password'), 'whatever-123');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Try again in 2 minutes.');
  });

  it('asks for a TOTP code when MFA is required, shows a wrong code inline, then signs in', async () => {
    const codes: unknown[] = [];
    server.use(
      http.post('/v1/auth/login', () =>
        HttpResponse.json({ status: 'mfa_required', session_token: 'mfa-st', methods: ['totp', 'backup_code'] }),
      ),
      http.post('/v1/auth/mfa/verify', async ({ request }) => {
        const body = (await request.json()) as { session_token: string; code: string };
        codes.push(body);
        if (body.code !== '123456') return apiError(401, 'invalid_mfa_code', 'The code is not valid.');
        return HttpResponse.json(tokens('at-mfa'));
      }),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser({ mfa_enabled: true }))),
    );
    const { user, location } = renderApp('/login');
    await user.type(await screen.findByLabelText('Email'), 'asha@example.com');
    await user.type(screen.getByLabelText('Password'), 'Correct-horse-42');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    expect(await screen.findByRole('heading', { name: 'Two-factor authentication' })).toBeInTheDocument();
    const codeInput = screen.getByLabelText('Authentication code');
    await waitFor(() => expect(codeInput).toHaveFocus());
    await user.type(codeInput, '000000');
    await user.click(screen.getByRole('button', { name: 'Verify' }));
    expect(
      await screen.findByText('That code is not valid. Check your authenticator and try again.', {
        selector: '.field__error',
      }),
    ).toBeInTheDocument();

    await user.type(screen.getByLabelText('Authentication code'), '123 456');
    await user.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByRole('heading', { level: 1, name: /Welcome/ })).toBeInTheDocument();
    expect(location()).toBe('/');
    expect(codes).toEqual([
      { session_token: 'mfa-st', code: '000000' },
      { session_token: 'mfa-st', code: '123456' },
    ]);
  });

  it('accepts a backup code after switching method', async () => {
    let sent: { code?: string } = {};
    server.use(
      http.post('/v1/auth/login', () =>
        HttpResponse.json({ status: 'mfa_required', session_token: 'mfa-st', methods: ['totp', 'backup_code'] }),
      ),
      http.post('/v1/auth/mfa/verify', async ({ request }) => {
        sent = (await request.json()) as { code: string };
        return HttpResponse.json(tokens());
      }),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
    );
    const { user } = renderApp('/login');
    await user.type(await screen.findByLabelText('Email'), 'asha@example.com');
    await user.type(screen.getByLabelText('Password'), 'Correct-horse-42');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    await user.click(await screen.findByRole('button', { name: 'Use a backup code instead' }));
    const input = screen.getByLabelText('Backup code');
    await waitFor(() => expect(input).toHaveFocus());
    await user.type(input, 'abcd-efgh');
    await user.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByRole('heading', { level: 1, name: /Welcome/ })).toBeInTheDocument();
    expect(sent.code).toBe('abcd-efgh');
  });

  it('returns to the password step when the MFA session has expired', async () => {
    server.use(
      http.post('/v1/auth/login', () =>
        HttpResponse.json({ status: 'mfa_required', session_token: 'mfa-st', methods: ['totp'] }),
      ),
      http.post('/v1/auth/mfa/verify', () => apiError(401, 'mfa_session_expired', 'The sign-in attempt expired.')),
    );
    const user = await oneWrongCode();
    expect(await screen.findByText(/This sign-in step timed out/)).toBeInTheDocument();
    expect(screen.queryByLabelText('Authentication code')).not.toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Sign in again' }));
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByLabelText('Email')).toHaveValue('asha@example.com');
    expect(screen.queryByRole('button', { name: 'Use a backup code instead' })).not.toBeInTheDocument();
  });

  it('shows attempts left from the third wrong code and one button after the fifth', async () => {
    let wrong = 0;
    server.use(
      http.post('/v1/auth/login', () =>
        HttpResponse.json({ status: 'mfa_required', session_token: 'mfa-st', methods: ['totp'] }),
      ),
      http.post('/v1/auth/mfa/verify', () => {
        wrong += 1;
        return HttpResponse.json(
          { detail: 'x', code: 'invalid_mfa_code', attempts_remaining: 5 - wrong },
          { status: 401 },
        );
      }),
    );
    const { user } = renderApp('/login');
    await user.type(await screen.findByLabelText('Email'), 'asha@example.com');
    await user.type(screen.getByLabelText('Password'), 'Correct-horse-42');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    for (let i = 1; i <= 4; i += 1) {
      await user.type(await screen.findByLabelText('Authentication code'), '000000');
      await user.click(screen.getByRole('button', { name: 'Verify' }));
      if (i < 3) {
        await screen.findByText('That code is not valid. Check your authenticator and try again.', {
          selector: '.field__error',
        });
        expect(screen.queryByText(/attempts? left/)).not.toBeInTheDocument();
      }
    }
    expect(await screen.findByText(/1 attempt left/)).toBeInTheDocument();
    await user.type(screen.getByLabelText('Authentication code'), '000000');
    await user.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByRole('button', { name: 'Sign in again' })).toBeInTheDocument();
    expect(screen.queryByLabelText('Authentication code')).not.toBeInTheDocument();
  });

  it('counts a rate limit down with the button disabled', async () => {
    server.use(
      http.post('/v1/auth/login', () =>
        HttpResponse.json({ status: 'mfa_required', session_token: 'mfa-st', methods: ['totp'] }),
      ),
      http.post('/v1/auth/mfa/verify', () =>
        HttpResponse.json({ detail: 'x', code: 'rate_limited' }, { status: 429, headers: { 'Retry-After': '3' } }),
      ),
    );
    await oneWrongCode();
    const submit = () => document.querySelector<HTMLButtonElement>('button[type="submit"]')!;
    await waitFor(() => expect(submit()).toBeDisabled());
    expect(submit()).toHaveTextContent(/Wait \d s/);
    expect(screen.getByText(/Too many attempts\. Try again in \d seconds?\./)).toBeInTheDocument();
    await waitFor(() => expect(submit()).toHaveTextContent('Wait 1 s'), { timeout: 4000 });
    await waitFor(() => expect(submit()).toBeEnabled(), { timeout: 4000 });
    expect(submit()).toHaveTextContent('Verify');
  });

  it('pre-fills the e-mail after registration and leaves "Keep me signed in" off', async () => {
    renderApp({ pathname: '/login', state: { email: 'new@example.com' } });
    expect(await screen.findByLabelText('Email')).toHaveValue('new@example.com');
    expect(screen.getByLabelText('Keep me signed in')).not.toBeChecked();
  });

  it('offers the passkey at the MFA step of an account that has one, and no app it does not have', async () => {
    server.use(
      http.post('/v1/auth/login', () =>
        HttpResponse.json({ status: 'mfa_required', session_token: 'mfa-st', methods: ['passkey', 'backup_code'] }),
      ),
    );
    const { user } = renderApp('/login');
    expect(await screen.findByLabelText('Email')).toHaveAttribute('autocomplete', 'username webauthn');
    await user.type(screen.getByLabelText('Email'), 'asha@example.com');
    await user.type(screen.getByLabelText('Password'), 'Correct-horse-42');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('button', { name: 'Use your passkey' })).toBeInTheDocument();
    expect(screen.getByLabelText('Backup code')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Use your authenticator app instead' })).not.toBeInTheDocument();
  });
});
