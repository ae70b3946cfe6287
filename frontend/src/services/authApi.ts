import { apiClient } from './apiClient';
import type {
  LoginRequest,
  LoginResponse,
  LogoutResponse,
  MfaVerifyResponse,
  RegisterRequest,
  RegisterResponse,
  SessionList,
  StepUpResponse,
} from '../api/types';

export const authApi = {
  async register(body: RegisterRequest): Promise<RegisterResponse> {
    const { data } = await apiClient.post<RegisterResponse>('/v1/auth/register', body, { skipAuth: true });
    return data;
  },

  async login(body: LoginRequest): Promise<LoginResponse> {
    const { data } = await apiClient.post<LoginResponse>('/v1/auth/login', body, { skipAuth: true });
    return data;
  },

  async verifyMfa(sessionToken: string, code: string): Promise<MfaVerifyResponse> {
    const { data } = await apiClient.post<MfaVerifyResponse>(
      '/v1/auth/mfa/verify',
      { session_token: sessionToken, code },
      { skipAuth: true },
    );
    return data;
  },

  async logout(allDevices: boolean): Promise<LogoutResponse> {
    const { data } = await apiClient.post<LogoutResponse>('/v1/auth/logout', { all_devices: allDevices });
    return data;
  },

  async listSessions(): Promise<SessionList> {
    const { data } = await apiClient.get<SessionList>('/v1/auth/sessions');
    return data;
  },

  async revokeSession(sessionId: string): Promise<void> {
    await apiClient.delete(`/v1/auth/sessions/${encodeURIComponent(sessionId)}`);
  },

  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await apiClient.post('/v1/auth/password/change', {
      current_password: currentPassword,
      new_password: newPassword,
    });
  },

  async requestPasswordReset(email: string): Promise<void> {
    await apiClient.post('/v1/auth/password/reset-request', { email }, { skipAuth: true });
  },

  async resetPassword(token: string, newPassword: string): Promise<void> {
    await apiClient.post('/v1/auth/password/reset', { token, new_password: newPassword }, { skipAuth: true });
  },

  /** Whether an e-mailed reset link still works, without spending it (token in the body only). */
  async checkResetToken(token: string): Promise<void> {
    await apiClient.post('/v1/auth/password/reset/check', { token }, { skipAuth: true });
  },

  async verifyEmail(token: string): Promise<void> {
    await apiClient.post('/v1/auth/email/verify', { token }, { skipAuth: true });
  },

  /** Re-prove the second factor: a new access token whose `mfa_at` is now (trading). */
  async stepUp(code: string): Promise<StepUpResponse> {
    const { data } = await apiClient.post<StepUpResponse>('/v1/auth/step-up', { code }, { skipStepUp: true });
    return data;
  },

  async resendVerification(): Promise<void> {
    await apiClient.post('/v1/auth/email/resend', {});
  },
};
