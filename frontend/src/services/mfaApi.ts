import { apiClient } from './apiClient';
import type {
  BackupCodesResponse,
  Factor,
  FactorList,
  ReauthenticateRequest,
  RecentAuth,
  TotpSetupResponse,
} from '../api/types';

export type DisableMfaRequest = { code: string } | { password: string };

export const mfaApi = {
  async factors(): Promise<FactorList> {
    const { data } = await apiClient.get<FactorList>('/v1/mfa/factors');
    return data;
  },

  async renameFactor(id: string, name: string): Promise<Factor> {
    const { data } = await apiClient.patch<Factor>(`/v1/mfa/factors/${encodeURIComponent(id)}`, { name });
    return data;
  },

  async removeFactor(id: string): Promise<{ mfa_enabled: boolean }> {
    const { data } = await apiClient.delete<{ mfa_enabled: boolean }>(`/v1/mfa/factors/${encodeURIComponent(id)}`);
    return data;
  },

  /** Confirm it is you before enrolling or removing a factor (the recent-authentication rule). */
  async reauthenticate(body: ReauthenticateRequest): Promise<RecentAuth> {
    const { data } = await apiClient.post<RecentAuth>('/v1/auth/reauthenticate', body);
    return data;
  },

  async setup(name?: string): Promise<TotpSetupResponse> {
    const body = name?.trim() ? { name: name.trim() } : {};
    const { data } = await apiClient.post<TotpSetupResponse>('/v1/mfa/totp/setup', body);
    return data;
  },

  async enable(code: string): Promise<BackupCodesResponse> {
    const { data } = await apiClient.post<BackupCodesResponse>('/v1/mfa/totp/enable', { code });
    return data;
  },

  async disable(body: DisableMfaRequest): Promise<void> {
    await apiClient.post('/v1/mfa/totp/disable', body);
  },

  async regenerateBackupCodes(code?: string): Promise<BackupCodesResponse> {
    const { data } = await apiClient.post<BackupCodesResponse>('/v1/mfa/backup-codes/regenerate', code ? { code } : {});
    return data;
  },
};
