import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import type { Factor, FactorList } from '../api/types';
import { apiError, makeUser, server } from '../test/server';
import { renderApp } from '../test/render';

const CODES = Array.from({ length: 10 }, (_, i) => `code-${i}`);

function factor(overrides: Partial<Factor> = {}): Factor {
  return {
    id: 'f-1',
    type: 'totp',
    name: 'work phone',
    created_at: '2026-11-01T10:00:00Z',
    last_used_at: null,
    ...overrides,
  };
}

function factorList(factors: Factor[], overrides: Partial<FactorList> = {}): FactorList {
  return {
    factors,
    mfa_enabled: factors.length > 0,
    backup_codes_remaining: factors.length > 0 ? 10 : 0,
    mfa_required: false,
    recent_auth_until: null,
    ...overrides,
  };
}

function signedIn(mfaEnabled: () => boolean) {
  return [
    http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at', expires_in: 900 })),
    http.get('/v1/users/me', () => HttpResponse.json(makeUser({ mfa_enabled: mfaEnabled() }))),
  ];
}

describe('SecurityPage', () => {
  it('asks for the password, adds a named authenticator app, and shows the backup codes once', async () => {
    let factors: Factor[] = [];
    let setupBody: unknown;
    let reauthBody: unknown;
    server.use(
      ...signedIn(() => factors.length > 0),
      http.get('/v1/mfa/factors', () => HttpResponse.json(factorList(factors))),
      http.post('/v1/auth/reauthenticate', async ({ request }) => {
        reauthBody = await request.json();
        return HttpResponse.json({ recent_auth_until: '2026-11-30T12:05:00Z' });
      }),
      http.post('/v1/mfa/totp/setup', async ({ request }) => {
        setupBody = await request.json();
        return HttpResponse.json({
          secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
          otpauth_uri: 'otpauth://totp/Quantagro:asha@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
          qr_code_uri: 'data:image/svg+xml;base64,PHN2Zy8+',
        });
      }),
      http.post('/v1/mfa/totp/enable', async ({ request }) => {
        const { code } = (await request.json()) as { code: string };
        if (code !== '654321') return apiError(400, 'invalid_mfa_code', 'The code is not valid.');
        factors = [factor()];
        return HttpResponse.json({ backup_codes: CODES });
      }),
    );
    const { user } = renderApp('/security');
    await user.click(await screen.findByRole('button', { name: 'Add an authenticator app' }));
    await user.type(screen.getByLabelText('Name'), 'work phone');
    await user.click(screen.getByRole('button', { name: 'Continue' }));

    const dialog = await screen.findByRole('alertdialog', { name: 'Confirm it’s you' });
    await user.type(within(dialog).getByLabelText('Current password'), 'Correct-horse-42');
    await user.click(within(dialog).getByRole('button', { name: 'Continue' }));
    expect(await screen.findByRole('img', { name: /QR code/ })).toHaveAttribute(
      'src',
      'data:image/svg+xml;base64,PHN2Zy8+',
    );
    expect(reauthBody).toEqual({ password: 'Correct-horse-42' });
    expect(setupBody).toEqual({ name: 'work phone' });
    expect(screen.getByTestId('totp-secret')).toHaveTextContent('JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');
    const codeField = screen.getByLabelText('Code from the app');
    expect(codeField).toHaveAttribute('maxlength', '7');
    expect(codeField).toHaveClass('input--six');

    await user.type(codeField, '111111');
    await user.click(screen.getByRole('button', { name: 'Turn on' }));
    expect(
      await screen.findByText('That code is not valid. Check your authenticator and try again.', {
        selector: '.field__error',
      }),
    ).toBeInTheDocument();

    await user.type(screen.getByLabelText('Code from the app'), '654321');
    await user.click(screen.getByRole('button', { name: 'Turn on' }));
    const codes = await screen.findByTestId('backup-codes');
    expect(within(codes).getAllByRole('listitem')).toHaveLength(10);
    const done = screen.getByRole('button', { name: 'Done' });
    expect(done).toBeDisabled();
    await user.click(screen.getByLabelText('I have saved these codes somewhere safe'));
    await user.click(done);
    await waitFor(() => expect(screen.getByText('On')).toBeInTheDocument());
    expect(
      within(screen.getByRole('list', { name: 'Your authenticators' })).getByText('work phone'),
    ).toBeInTheDocument();
  });

  it('cancels a TOTP setup without turning anything on', async () => {
    let enabled = false;
    server.use(
      ...signedIn(() => false),
      http.get('/v1/mfa/factors', () => HttpResponse.json(factorList([]))),
      http.post('/v1/auth/reauthenticate', () => HttpResponse.json({ recent_auth_until: '2026-11-30T12:05:00Z' })),
      http.post('/v1/mfa/totp/setup', () =>
        HttpResponse.json({
          secret: 'JBSWY3DPEHPK3PXP',
          otpauth_uri: 'otpauth://totp/x',
          qr_code_uri: 'data:image/svg+xml;base64,PHN2Zy8+',
        }),
      ),
      http.post('/v1/mfa/totp/enable', () => {
        enabled = true;
        return HttpResponse.json({ backup_codes: CODES });
      }),
    );
    const { user } = renderApp('/security');
    await user.click(await screen.findByRole('button', { name: 'Add an authenticator app' }));
    await user.click(screen.getByRole('button', { name: 'Continue' }));
    const dialog = await screen.findByRole('alertdialog');
    await user.type(within(dialog).getByLabelText('Current password'), 'pw');
    await user.click(within(dialog).getByRole('button', { name: 'Continue' }));
    await screen.findByRole('img', { name: /QR code/ });
    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('img', { name: /QR code/ })).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Add an authenticator app' })).toBeInTheDocument();
    expect(enabled).toBe(false);
  });

  it('removes an authenticator only after a confirmation and the password', async () => {
    let factors = [factor(), factor({ id: 'f-2', type: 'passkey', name: 'YubiKey' })];
    let deleted: string | null = null;
    server.use(
      ...signedIn(() => factors.length > 0),
      http.get('/v1/mfa/factors', () => HttpResponse.json(factorList(factors))),
      http.post('/v1/auth/reauthenticate', async ({ request }) => {
        const { password } = (await request.json()) as { password: string };
        if (password !== 'right') return apiError(400, 'invalid_password', 'The password is not correct.');
        return HttpResponse.json({ recent_auth_until: '2026-11-30T12:05:00Z' });
      }),
      http.delete('/v1/mfa/factors/:id', ({ params }) => {
        deleted = String(params.id);
        factors = factors.filter((f) => f.id !== params.id);
        return HttpResponse.json({ mfa_enabled: true, other_sessions_revoked: 0 });
      }),
    );
    const { user } = renderApp('/security');
    await user.click(await screen.findByRole('button', { name: 'Remove YubiKey' }));
    const confirm = await screen.findByRole('alertdialog', { name: 'Remove “YubiKey”?' });
    await user.click(within(confirm).getByRole('button', { name: 'Remove' }));
    const reauth = await screen.findByRole('alertdialog', { name: 'Confirm it’s you' });
    await user.type(within(reauth).getByLabelText('Current password'), 'wrong');
    await user.click(within(reauth).getByRole('button', { name: 'Continue' }));
    expect(await within(reauth).findByText('The password is not correct.')).toBeInTheDocument();
    expect(deleted).toBeNull();
    await user.type(within(reauth).getByLabelText('Current password'), 'right');
    await user.click(within(reauth).getByRole('button', { name: 'Continue' }));
    expect(await screen.findByText('“YubiKey” was removed.')).toBeInTheDocument();
    expect(deleted).toBe('f-2');
    expect(screen.queryByRole('button', { name: 'Remove YubiKey' })).not.toBeInTheDocument();
  });

  it('keeps the last factor when policy requires one', async () => {
    server.use(
      ...signedIn(() => true),
      http.get('/v1/mfa/factors', () => HttpResponse.json(factorList([factor()], { mfa_required: true }))),
    );
    renderApp('/security');
    expect(await screen.findByRole('button', { name: 'Remove work phone' })).toBeDisabled();
    expect(screen.getByText(/must keep a second factor/)).toBeInTheDocument();
  });

  it('says how many backup codes are left, warns at three, and regenerates with a code', async () => {
    let sent: unknown;
    server.use(
      ...signedIn(() => true),
      http.get('/v1/mfa/factors', () => HttpResponse.json(factorList([factor()], { backup_codes_remaining: 3 }))),
      http.post('/v1/mfa/backup-codes/regenerate', async ({ request }) => {
        sent = await request.json();
        return HttpResponse.json({ backup_codes: CODES });
      }),
    );
    const { user } = renderApp('/security');
    expect(await screen.findByTestId('backup-codes-remaining')).toHaveTextContent('3 backup codes left');
    expect(screen.getByText(/running out of backup codes/)).toBeInTheDocument();
    await user.type(screen.getByLabelText('Code from your authenticator app'), '123 456');
    await user.click(screen.getByRole('button', { name: 'Generate new backup codes' }));
    const codes = await screen.findByTestId('backup-codes');
    expect(within(codes).getAllByRole('listitem')).toHaveLength(10);
    expect(screen.getByRole('heading', { name: 'Your new backup codes' })).toHaveFocus();
    expect(sent).toEqual({ code: '123456' });
  });

  it('renames an authenticator', async () => {
    let factors = [factor()];
    server.use(
      ...signedIn(() => true),
      http.get('/v1/mfa/factors', () => HttpResponse.json(factorList(factors))),
      http.patch('/v1/mfa/factors/:id', async ({ request }) => {
        const { name } = (await request.json()) as { name: string };
        factors = [factor({ name })];
        return HttpResponse.json(factors[0]);
      }),
    );
    const { user } = renderApp('/security');
    await user.click(await screen.findByRole('button', { name: 'Rename work phone' }));
    const field = screen.getByLabelText('New name for “work phone”');
    await user.clear(field);
    await user.type(field, 'old phone');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Renamed to “old phone”.')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Rename old phone' })).toBeInTheDocument();
  });
});
