import {
  browserSupportsWebAuthn,
  browserSupportsWebAuthnAutofill,
  startAuthentication,
  startRegistration,
  WebAuthnAbortService,
} from '@simplewebauthn/browser';
import { apiClient } from './apiClient';
import type { PasskeyCeremony, PasskeyRegistered, StepUpResponse, TokenResponse } from '../api/types';

type Credential = Record<string, unknown>;

/** Passkeys (WebAuthn) against /v1/mfa/passkeys/* and /v1/auth/passkey/*: each ceremony is
 * "options" (server-side challenge) → browser → "verify". */
export const passkeyApi = {
  supported(): boolean {
    return browserSupportsWebAuthn();
  },

  autofillSupported(): Promise<boolean> {
    return browserSupportsWebAuthnAutofill();
  },

  /** Register a passkey for the signed-in user (recent authentication required). */
  async register(name: string): Promise<PasskeyRegistered> {
    const { data: ceremony } = await apiClient.post<PasskeyCeremony>('/v1/mfa/passkeys/register/options', {});
    const credential = await startRegistration({ optionsJSON: ceremony.options as never });
    const { data } = await apiClient.post<PasskeyRegistered>('/v1/mfa/passkeys/register/verify', {
      challenge_id: ceremony.challenge_id,
      name: name.trim() || undefined,
      credential: credential as unknown as Credential,
    });
    return data;
  },

  /** Passwordless sign-in with a discoverable credential. `autofill` waits for the browser's
   * conditional UI (the e-mail field's passkey suggestions) instead of opening a dialog. */
  async signIn(persistSession: boolean, autofill = false): Promise<TokenResponse> {
    const { data: ceremony } = await apiClient.post<PasskeyCeremony>(
      '/v1/auth/passkey/options',
      {},
      { skipAuth: true },
    );
    const credential = await startAuthentication({
      optionsJSON: ceremony.options as never,
      useBrowserAutofill: autofill,
    });
    const { data } = await apiClient.post<TokenResponse>(
      '/v1/auth/passkey/verify',
      {
        challenge_id: ceremony.challenge_id,
        credential: credential as unknown as Credential,
        persist_session: persistSession,
      },
      { skipAuth: true },
    );
    return data;
  },

  /** The second step of a password login, with a passkey instead of a code. */
  async verifyLogin(sessionToken: string): Promise<TokenResponse> {
    const { data: ceremony } = await apiClient.post<PasskeyCeremony>(
      '/v1/auth/passkey/mfa/options',
      { session_token: sessionToken },
      { skipAuth: true },
    );
    const credential = await startAuthentication({ optionsJSON: ceremony.options as never });
    const { data } = await apiClient.post<TokenResponse>(
      '/v1/auth/passkey/mfa/verify',
      {
        session_token: sessionToken,
        challenge_id: ceremony.challenge_id,
        credential: credential as unknown as Credential,
      },
      { skipAuth: true },
    );
    return data;
  },

  /** Re-prove the second factor with a passkey (fresh `mfa_at`). */
  async stepUp(): Promise<StepUpResponse> {
    const { data: ceremony } = await apiClient.post<PasskeyCeremony>(
      '/v1/auth/passkey/step-up/options',
      {},
      { skipStepUp: true },
    );
    const credential = await startAuthentication({ optionsJSON: ceremony.options as never });
    const { data } = await apiClient.post<StepUpResponse>(
      '/v1/auth/passkey/step-up/verify',
      { challenge_id: ceremony.challenge_id, credential: credential as unknown as Credential },
      { skipStepUp: true },
    );
    return data;
  },

  /** Finish a pending link to a provider account (`link_required`) with the account's
   * password and one of its passkeys as the second factor; signs in (the cookie is set). */
  async link(linkToken: string, password: string): Promise<void> {
    const { data: ceremony } = await apiClient.post<PasskeyCeremony>(
      '/v1/auth/oidc/link/passkey/options',
      { link_token: linkToken },
      { skipAuth: true },
    );
    const credential = await startAuthentication({ optionsJSON: ceremony.options as never });
    await apiClient.post(
      '/v1/auth/oidc/link',
      {
        link_token: linkToken,
        password,
        passkey: { challenge_id: ceremony.challenge_id, credential: credential as unknown as Credential },
      },
      { skipAuth: true },
    );
  },

  /** Stop a pending conditional-UI request (leaving the login page, or an explicit ceremony). */
  cancel(): void {
    WebAuthnAbortService.cancelCeremony();
  },
};

/** The browser said no (dialog dismissed, timed out, no matching passkey): not an error to shout
 * about, the user simply did not finish. */
export function isWebAuthnCancel(error: unknown): boolean {
  return error instanceof Error && (error.name === 'NotAllowedError' || error.name === 'AbortError');
}
