import { screen, waitFor, within } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { apiError, makeUser, server } from '../test/server';
import { renderApp } from '../test/render';

const CODES = Array.from({ length: 10 }, (_, i) => `code-${i}`);

describe('SecurityPage', () => {
  it('enables MFA with the QR code and manual key, then shows the backup codes once', async () => {
    let mfaEnabled = false;
    server.use(
      http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at', expires_in: 900 })),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser({ mfa_enabled: mfaEnabled }))),
      http.post('/v1/mfa/totp/setup', () =>
        HttpResponse.json({
          secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
          otpauth_uri: 'otpauth://totp/Quantagro:asha@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP',
          qr_code_uri: 'data:image/svg+xml;base64,PHN2Zy8+',
        }),
      ),
      http.post('/v1/mfa/totp/enable', async ({ request }) => {
        const { code } = (await request.json()) as { code: string };
        if (code !== '654321') return apiError(400, 'invalid_mfa_code', 'The code is not valid.');
        mfaEnabled = true;
        return HttpResponse.json({ backup_codes: CODES });
      }),
    );
    const { user } = renderApp('/security');
    await user.click(await screen.findByRole('button', { name: 'Set up two-factor authentication' }));
    expect(await screen.findByRole('img', { name: /QR code/ })).toHaveAttribute('src', 'data:image/svg+xml;base64,PHN2Zy8+');
    expect(screen.getByTestId('totp-secret')).toHaveTextContent('JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');

    await user.type(screen.getByLabelText('Code from the app'), '111111');
    await user.click(screen.getByRole('button', { name: 'Turn on two-factor authentication' }));
    expect(await screen.findByText('That code is not valid. Check your authenticator and try again.', { selector: '.field__error' })).toBeInTheDocument();

    await user.type(screen.getByLabelText('Code from the app'), '654321');
    await user.click(screen.getByRole('button', { name: 'Turn on two-factor authentication' }));
    const codes = await screen.findByTestId('backup-codes');
    expect(within(codes).getAllByRole('listitem')).toHaveLength(10);
    const done = screen.getByRole('button', { name: 'Done' });
    expect(done).toBeDisabled();
    await user.click(screen.getByLabelText('I have saved these codes somewhere safe'));
    await user.click(done);
    expect(screen.queryByTestId('backup-codes')).not.toBeInTheDocument();
    await waitFor(() => expect(screen.getByText('On')).toBeInTheDocument());
    expect(screen.getByRole('status')).toHaveTextContent('Two-factor authentication is on.');
  });

  it('turns MFA off with the password', async () => {
    let body: unknown;
    let enabled = true;
    server.use(
      http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at', expires_in: 900 })),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser({ mfa_enabled: enabled }))),
      http.post('/v1/mfa/totp/disable', async ({ request }) => {
        body = await request.json();
        enabled = false;
        return HttpResponse.json({});
      }),
    );
    const { user } = renderApp('/security');
    await user.click(await screen.findByRole('radio', { name: 'Password' }));
    await user.type(screen.getByLabelText('Current password'), 'Correct-horse-42');
    await user.click(screen.getByRole('button', { name: 'Turn off' }));
    expect(await screen.findByRole('button', { name: 'Set up two-factor authentication' })).toBeInTheDocument();
    expect(body).toEqual({ password: 'Correct-horse-42' });
  });

  it('regenerates backup codes with a code from the app and shows the new ones', async () => {
    let sent: unknown;
    server.use(
      http.post('/v1/auth/refresh', () => HttpResponse.json({ access_token: 'at', expires_in: 900 })),
      http.get('/v1/users/me', () => HttpResponse.json(makeUser({ mfa_enabled: true }))),
      http.post('/v1/mfa/backup-codes/regenerate', async ({ request }) => {
        sent = await request.json();
        return HttpResponse.json({ backup_codes: CODES });
      }),
    );
    const { user } = renderApp('/security');
    await user.type(await screen.findByLabelText('Code from your authenticator app'), '123 456');
    await user.click(screen.getByRole('button', { name: 'Generate new backup codes' }));
    const codes = await screen.findByTestId('backup-codes');
    expect(within(codes).getAllByRole('listitem')).toHaveLength(10);
    expect(screen.getByRole('heading', { name: 'Your new backup codes' })).toHaveFocus();
    expect(sent).toEqual({ code: '123456' });
  });
});
