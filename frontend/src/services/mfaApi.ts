import { apiClient } from './apiClient';
import type { BackupCodesResponse, TotpSetupResponse } from '../api/types';

export type DisableMfaRequest = { code: string } | { password: string };

export const mfaApi = {
  async setup(): Promise<TotpSetupResponse> {
    const { data } = await apiClient.post<TotpSetupResponse>('/v1/mfa/totp/setup', {});
    return data;
  },

  async enable(code: string): Promise<BackupCodesResponse> {
    const { data } = await apiClient.post<BackupCodesResponse>('/v1/mfa/totp/enable', { code });
    return data;
  },

  async disable(body: DisableMfaRequest): Promise<void> {
    await apiClient.post('/v1/mfa/totp/disable', body);
  },

  async regenerateBackupCodes(code: string): Promise<BackupCodesResponse> {
    const { data } = await apiClient.post<BackupCodesResponse>('/v1/mfa/backup-codes/regenerate', { code });
    return data;
  },
};
