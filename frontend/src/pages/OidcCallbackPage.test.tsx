import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { browserNavigation } from '../services/identitiesApi';
import { passkeyApi } from '../services/passkeyApi';
import { renderApp } from '../test/render';
import { anonymousHandlers, apiError, makeUser, server, signedInHandlers } from '../test/server';

const google = http.get('/v1/auth/providers', () =>
  HttpResponse.json({ providers: [{ provider: 'google', display_name: 'Google' }] }),
);

afterEach(() => vi.restoreAllMocks());

describe('Continue with Google', () => {
  it('is offered on the sign-in page only when the service has a provider', async () => {
    server.use(
      ...anonymousHandlers,
      http.get('/v1/auth/providers', () => HttpResponse.json({ providers: [] })),
    );
    const first = renderApp('/login');
    expect(await first.findByRole('button', { name: 'Sign in' })).toBeInTheDocument();
    expect(first.queryByRole('button', { name: 'Continue with Google' })).not.toBeInTheDocument();
    first.unmount();

    let body: unknown;
    const assign = vi.spyOn(browserNavigation, 'assign').mockImplementation(() => undefined);
    server.use(
      google,
      http.post('/v1/auth/oidc/google/start', async ({ request }) => {
        body = await request.json();
        return HttpResponse.json({ authorization_url: 'https://idp.example/authorize?x=1', expires_in: 600 });
      }),
    );
    const { user } = renderApp('/login');
    await user.click(await screen.findByRole('checkbox', { name: 'Keep me signed in' }));
    await user.click(await screen.findByRole('button', { name: 'Continue with Google' }));
    await waitFor(() => expect(assign).toHaveBeenCalledWith('https://idp.example/authorize?x=1'));
    expect(body).toEqual({ persist_session: true });
  });

  it('posts code and state from the callback and reloads the app signed in', async () => {
    let body: unknown;
    const replace = vi.spyOn(browserNavigation, 'replace').mockImplementation(() => undefined);
    server.use(
      ...anonymousHandlers,
      http.post('/v1/auth/oidc/google/callback', async ({ request }) => {
        body = await request.json();
        return HttpResponse.json({ access_token: 'at', token_type: 'bearer', expires_in: 900, user: makeUser() });
      }),
    );
    const { location } = renderApp('/login/google/callback?code=c-1&state=s-1');
    await waitFor(() => expect(replace).toHaveBeenCalledWith('/'));
    expect(body).toEqual({ code: 'c-1', state: 's-1' });
    // The code left the address bar (the router may commit that update after the answer came).
    await waitFor(() => expect(location()).toBe('/login/google/callback'));
  });

  it('asks for the password (and code) of an existing account before linking', async () => {
    let linkBody: unknown;
    const replace = vi.spyOn(browserNavigation, 'replace').mockImplementation(() => undefined);
    server.use(
      ...anonymousHandlers,
      http.post('/v1/auth/oidc/google/callback', () =>
        HttpResponse.json({
          status: 'link_required',
          provider: 'google',
          email: 'asha@example.com',
          link_token: 'qol_x',
          mfa_required: true,
          methods: ['totp', 'backup_code'],
          expires_in: 600,
        }),
      ),
      http.post('/v1/auth/oidc/link', async ({ request }) => {
        linkBody = await request.json();
        if ((linkBody as { password: string }).password !== 'Correct-Horse-9') {
          return apiError(401, 'invalid_credentials', 'Incorrect password.');
        }
        return HttpResponse.json({ access_token: 'at', token_type: 'bearer', expires_in: 900, user: makeUser() });
      }),
    );
    const { user } = renderApp('/login/google/callback?code=c&state=s');
    expect(await screen.findByRole('heading', { name: 'Link Google to your account' })).toBeInTheDocument();
    expect(screen.getByText(/already uses asha@example.com/)).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Link Google and sign in' }));
    expect(await screen.findByText('Enter the password of your Quantagro account.')).toBeInTheDocument();

    await user.type(screen.getByLabelText('Password of your Quantagro account'), 'wrong');
    await user.type(screen.getByLabelText('Code from your app, or a backup code'), '123 456');
    await user.click(screen.getByRole('button', { name: 'Link Google and sign in' }));
    expect(await screen.findByText('The password is not correct.', { selector: '.field__error' })).toBeInTheDocument();

    await user.type(screen.getByLabelText('Password of your Quantagro account'), 'Correct-Horse-9');
    await user.type(screen.getByLabelText('Code from your app, or a backup code'), '123456');
    await user.click(screen.getByRole('button', { name: 'Link Google and sign in' }));
    await waitFor(() => expect(replace).toHaveBeenCalledWith('/'));
    expect(linkBody).toEqual({ link_token: 'qol_x', password: 'Correct-Horse-9', code: '123456' });
  });

  it('links an account with its password and passkey', async () => {
    const replace = vi.spyOn(browserNavigation, 'replace').mockImplementation(() => undefined);
    server.use(
      ...anonymousHandlers,
      http.post('/v1/auth/oidc/google/callback', () =>
        HttpResponse.json({
          status: 'link_required',
          provider: 'google',
          email: 'asha@example.com',
          link_token: 'qol_p',
          mfa_required: true,
          methods: ['passkey', 'backup_code'],
          expires_in: 600,
        }),
      ),
    );
    const link = vi.spyOn(passkeyApi, 'link').mockResolvedValue(undefined);
    const { user } = renderApp('/login/google/callback?code=c&state=s');
    const withPasskey = await screen.findByRole('button', { name: 'Link Google with your passkey' });
    expect(screen.getByText(/then use its passkey or enter a code/)).toBeInTheDocument();
    expect(screen.getByLabelText('Backup code')).toBeInTheDocument();
    await user.click(withPasskey);
    expect(await screen.findByText('Enter the password of your Quantagro account.')).toBeInTheDocument();
    expect(link).not.toHaveBeenCalled();
    await user.type(screen.getByLabelText('Password of your Quantagro account'), 'Correct-Horse-9');
    await user.click(withPasskey);
    await waitFor(() => expect(replace).toHaveBeenCalledWith('/'));
    expect(link).toHaveBeenCalledWith('qol_p', 'Correct-Horse-9');
  });

  it('asks for the second factor when the account has one', async () => {
    server.use(
      ...anonymousHandlers,
      http.post('/v1/auth/oidc/google/callback', () =>
        HttpResponse.json({
          status: 'mfa_required',
          session_token: 'qms_1',
          methods: ['totp', 'backup_code'],
          expires_in: 600,
        }),
      ),
      http.post('/v1/auth/mfa/verify', () =>
        HttpResponse.json({ access_token: 'at', token_type: 'bearer', expires_in: 900, user: makeUser() }),
      ),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
    );
    const { user, location } = renderApp('/login/google/callback?code=c&state=s');
    await user.type(await screen.findByLabelText('Authentication code'), '123456');
    await user.click(screen.getByRole('button', { name: 'Verify' }));
    await waitFor(() => expect(location()).toBe('/'));
  });

  it('offers the passkey as the second factor after Google, and a backup code, but no app it lacks', async () => {
    server.use(
      ...anonymousHandlers,
      http.post('/v1/auth/oidc/google/callback', () =>
        HttpResponse.json({
          status: 'mfa_required',
          session_token: 'qms_2',
          methods: ['passkey', 'backup_code'],
          expires_in: 600,
        }),
      ),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
    );
    const verifyLogin = vi
      .spyOn(passkeyApi, 'verifyLogin')
      .mockResolvedValue({ access_token: 'at', token_type: 'bearer', expires_in: 900, user: makeUser() });
    const { user, location } = renderApp('/login/google/callback?code=c&state=s');
    const usePasskey = await screen.findByRole('button', { name: 'Use your passkey' });
    expect(screen.getByLabelText('Backup code')).toBeInTheDocument();
    expect(screen.queryByLabelText('Authentication code')).not.toBeInTheDocument();
    expect(screen.getByText(/use your passkey, or enter a backup code/)).toBeInTheDocument();
    await user.click(usePasskey);
    expect(verifyLogin).toHaveBeenCalledWith('qms_2');
    await waitFor(() => expect(location()).toBe('/'));
  });

  it('says why when the service refuses the answer', async () => {
    server.use(
      ...anonymousHandlers,
      http.post('/v1/auth/oidc/google/callback', () =>
        apiError(400, 'invalid_oidc_state', 'This sign-in attempt is not valid or has expired. Start again.'),
      ),
    );
    renderApp('/login/google/callback?code=c&state=s');
    expect(
      await screen.findByText('The Google sign-in expired or was started in another browser. Start again.'),
    ).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Back to sign in' })).toHaveAttribute('href', '/login');
  });

  it('does not call the service when the provider reports an error', async () => {
    const callback = vi.fn();
    server.use(
      ...anonymousHandlers,
      http.post('/v1/auth/oidc/google/callback', () => {
        callback();
        return HttpResponse.json({});
      }),
    );
    renderApp('/login/google/callback?error=access_denied&state=s');
    expect(await screen.findByText(/cancelled at the provider/)).toBeInTheDocument();
    expect(callback).not.toHaveBeenCalled();
  });
});

describe('linked identities on Security', () => {
  it('lists, unlinks and links Google after re-entering the password', async () => {
    let items = [
      {
        identity_id: 'i-1',
        provider: 'google',
        email: 'asha.g@example.com',
        created_at: '2026-11-30T10:00:00Z',
        last_used_at: null,
      },
    ];
    let startBody: unknown;
    const assign = vi.spyOn(browserNavigation, 'assign').mockImplementation(() => undefined);
    server.use(
      ...signedInHandlers(),
      google,
      http.get('/v1/users/me/identities', () => HttpResponse.json({ items, next_cursor: null, has_password: true })),
      http.delete('/v1/users/me/identities/i-1', () => {
        items = [];
        return new HttpResponse(null, { status: 204 });
      }),
      http.post('/v1/users/me/identities/google/start', async ({ request }) => {
        startBody = await request.json();
        return HttpResponse.json({ authorization_url: 'https://idp.example/authorize?link=1', expires_in: 600 });
      }),
    );
    const { user } = renderApp('/security');
    expect(await screen.findByText('asha.g@example.com')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Unlink Google asha.g@example.com' }));
    await user.click(await screen.findByRole('button', { name: 'Unlink' }));
    expect(await screen.findByText('Google (asha.g@example.com) is unlinked.')).toBeInTheDocument();

    await user.click(await screen.findByRole('button', { name: 'Link Google' }));
    const card = screen.getByRole('region', { name: 'Sign-in with other accounts' });
    await user.type(within(card).getByLabelText('Your password'), 'Correct-Horse-9');
    await user.click(within(card).getByRole('button', { name: 'Continue to Google' }));
    await waitFor(() => expect(assign).toHaveBeenCalledWith('https://idp.example/authorize?link=1'));
    expect(startBody).toEqual({ password: 'Correct-Horse-9' });
  });

  it('keeps the only way to sign in of an account without a password', async () => {
    server.use(
      ...signedInHandlers(),
      google,
      http.get('/v1/users/me/identities', () =>
        HttpResponse.json({
          items: [
            {
              identity_id: 'i-1',
              provider: 'google',
              email: 'asha.g@example.com',
              created_at: '2026-11-30T10:00:00Z',
              last_used_at: '2026-11-30T11:00:00Z',
            },
          ],
          next_cursor: null,
          has_password: false,
        }),
      ),
    );
    renderApp('/security');
    expect(await screen.findByText(/This is your only way to sign in/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Unlink Google asha.g@example.com' })).toBeDisabled();
  });
});
