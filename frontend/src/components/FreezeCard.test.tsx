import { screen, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { renderApp } from '../test/render';
import { apiError, makeUser, server } from '../test/server';

const tokens = http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at', expires_in: 900 }));

describe('emergency freeze', () => {
  it('freezes with the password after a confirmation and lands on sign-in saying why', async () => {
    let body: unknown;
    server.use(
      tokens,
      http.get('/v1/users/me', () => HttpResponse.json(makeUser())),
      http.post('/v1/users/me/freeze', async ({ request }) => {
        body = await request.json();
        if ((body as { password: string }).password !== 'Correct-Horse-9') {
          return apiError(400, 'invalid_password', 'The password is not correct.');
        }
        return HttpResponse.json({
          frozen: true,
          frozen_at: '2026-11-30T10:00:00Z',
          sessions_revoked: 2,
          status: 'frozen',
        });
      }),
    );
    const { user, location } = renderApp('/security');
    await user.click(await screen.findByRole('button', { name: 'Freeze my account' }));
    expect(await screen.findByText('Enter your password.')).toBeInTheDocument();

    await user.type(screen.getByLabelText('Your password'), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Freeze my account' }));
    await user.click(await screen.findByRole('button', { name: 'Freeze now' }));
    expect(await screen.findByText('The password is not correct.', { selector: '.field__error' })).toBeInTheDocument();

    await user.type(screen.getByLabelText('Your password'), 'Correct-Horse-9');
    await user.click(screen.getByRole('button', { name: 'Freeze my account' }));
    const dialog = await screen.findByRole('alertdialog', { name: 'Freeze your account?' });
    expect(dialog).toHaveTextContent('signed out here and on every other device');
    await user.click(screen.getByRole('button', { name: 'Freeze now' }));
    await waitFor(() => expect(location()).toBe('/login'));
    expect(body).toEqual({ password: 'Correct-Horse-9' });
    expect(await screen.findByText(/Your account is frozen and every device is signed out/)).toBeInTheDocument();
  });

  it('shows the frozen state across the console and unfreezes with password and code', async () => {
    let frozen = true;
    let body: unknown;
    server.use(
      tokens,
      http.get('/v1/users/me', () =>
        HttpResponse.json(makeUser({ mfa_enabled: true, frozen, frozen_at: frozen ? '2026-11-30T10:00:00Z' : null })),
      ),
      http.post('/v1/users/me/unfreeze', async ({ request }) => {
        body = await request.json();
        frozen = false;
        return HttpResponse.json({ frozen: false, frozen_at: null, sessions_revoked: 0, status: 'unfrozen' });
      }),
    );
    const { user } = renderApp('/security');
    const banner = await screen.findByRole('region', { name: 'Account frozen' });
    expect(banner).toHaveTextContent('Trading is off on all your trading accounts');
    await user.click(screen.getByRole('button', { name: 'Unfreeze my account' }));
    expect(
      await screen.findByText('Enter the code from your authenticator app, or a backup code.'),
    ).toBeInTheDocument();
    await user.type(screen.getByLabelText('Your password'), 'Correct-Horse-9');
    await user.type(screen.getByLabelText('Code from your app, or a backup code'), '123 456');
    await user.click(screen.getByRole('button', { name: 'Unfreeze my account' }));
    await waitFor(() => expect(screen.queryByRole('region', { name: 'Account frozen' })).not.toBeInTheDocument());
    expect(body).toEqual({ password: 'Correct-Horse-9', code: '123456' });
    expect(screen.getByRole('button', { name: 'Freeze my account' })).toBeInTheDocument();
  });

  it('freezes from the e-mailed link only when the button is pressed', async () => {
    let calls = 0;
    server.use(
      http.post('/v1/auth/freeze', async ({ request }) => {
        calls += 1;
        expect(await request.json()).toEqual({ token: 'qfz_abc' });
        return HttpResponse.json({
          frozen: true,
          frozen_at: '2026-11-30T10:00:00Z',
          sessions_revoked: 1,
          status: 'frozen',
        });
      }),
    );
    const { user } = renderApp('/freeze?token=qfz_abc');
    const button = await screen.findByRole('button', { name: 'Freeze my account now' });
    expect(calls).toBe(0);
    await user.click(button);
    expect(await screen.findByText('Your account is frozen.')).toBeInTheDocument();
    expect(screen.getByRole('status')).toHaveTextContent('1 device was signed out');
    expect(calls).toBe(1);
  });
});
