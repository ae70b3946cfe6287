import { screen, waitFor } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiClient, isStepUpDeclinedError } from '../services/apiClient';
import { passkeyApi } from '../services/passkeyApi';
import { renderApp } from '../test/render';
import { apiError, makeUser, server, signedInHandlers } from '../test/server';

/** A trading action that needs a second factor proven in the last five minutes. */
function tradingAction(seen: string[]) {
  return http.post('/api/orders', ({ request }) => {
    const auth = request.headers.get('Authorization') ?? '';
    seen.push(auth);
    if (auth !== 'Bearer at-stepped-up') {
      return apiError(403, 'step_up_required', 'Confirm with a code from your authenticator app to continue.');
    }
    return HttpResponse.json({ order_id: 'o-1' }, { status: 201 });
  });
}

afterEach(() => vi.restoreAllMocks());

describe('step-up dialog', () => {
  it('asks for a code, steps up, swaps the token in and retries the action once', async () => {
    const seen: string[] = [];
    const codes: string[] = [];
    server.use(
      ...signedInHandlers(makeUser({ mfa_enabled: true }), 'at-1'),
      tradingAction(seen),
      http.post('/v1/auth/step-up', async ({ request }) => {
        const { code } = (await request.json()) as { code: string };
        codes.push(code);
        if (code !== '123456') return apiError(400, 'invalid_mfa_code', 'The verification code is not valid.');
        return HttpResponse.json({ access_token: 'at-stepped-up', expires_in: 900, token_type: 'bearer' });
      }),
    );
    const { user } = renderApp('/');
    await screen.findByRole('heading', { level: 1 });
    const action = apiClient.post('/api/orders', { symbol: 'NSE:INFY' });

    const dialog = await screen.findByRole('dialog', { name: 'Confirm it’s you' });
    const input = screen.getByLabelText('Authenticator or backup code');
    await waitFor(() => expect(input).toHaveFocus());
    await user.type(input, '000000');
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('That code did not work');
    expect(dialog).toBeInTheDocument();
    await user.type(screen.getByLabelText('Authenticator or backup code'), '123 456');
    await user.click(screen.getByRole('button', { name: 'Confirm' }));

    const response = await action;
    expect(response.status).toBe(201);
    expect(codes).toEqual(['000000', '123456']);
    expect(seen).toEqual(['Bearer at-1', 'Bearer at-stepped-up']);
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    // The session keeps the new token for later requests.
    await apiClient.post('/api/orders', {});
    expect(seen.at(-1)).toBe('Bearer at-stepped-up');
  });

  it('steps up with the passkey of an account that has one, then retries the action', async () => {
    const seen: string[] = [];
    server.use(
      ...signedInHandlers(makeUser({ mfa_enabled: true }), 'at-1'),
      tradingAction(seen),
      http.get('/v1/mfa/factors', () =>
        HttpResponse.json({
          factors: [
            {
              id: 'f-1',
              type: 'passkey',
              name: 'YubiKey',
              created_at: '2026-11-30T10:00:00Z',
              last_used_at: null,
            },
          ],
          mfa_enabled: true,
          backup_codes_remaining: 10,
          mfa_required: false,
          recent_auth_until: null,
        }),
      ),
    );
    vi.spyOn(passkeyApi, 'supported').mockReturnValue(true);
    const stepUp = vi
      .spyOn(passkeyApi, 'stepUp')
      .mockResolvedValue({ access_token: 'at-stepped-up', expires_in: 900, token_type: 'bearer' });
    const { user } = renderApp('/');
    await screen.findByRole('heading', { level: 1 });
    const action = apiClient.post('/api/orders', { symbol: 'NSE:INFY' });

    await screen.findByRole('dialog', { name: 'Confirm it’s you' });
    await user.click(await screen.findByRole('button', { name: 'Use your passkey' }));
    const response = await action;
    expect(response.status).toBe(201);
    expect(stepUp).toHaveBeenCalledTimes(1);
    expect(seen).toEqual(['Bearer at-1', 'Bearer at-stepped-up']);
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('leaves the action failed when the dialog is closed, and explains when MFA is off', async () => {
    const seen: string[] = [];
    server.use(...signedInHandlers(makeUser({ mfa_enabled: false })), tradingAction(seen));
    const { user } = renderApp('/');
    await screen.findByRole('heading', { level: 1 });
    const action = apiClient.post('/api/orders', {}).catch((error: unknown) => error);
    const dialog = await screen.findByRole('dialog', { name: 'Confirm it’s you' });
    expect(dialog).toHaveTextContent('Trading needs two-factor authentication');
    await user.keyboard('{Escape}');
    const error = await action;
    expect(isStepUpDeclinedError(error)).toBe(true);
    expect(seen).toHaveLength(1); // never retried
  });
});
