import { apiClient } from './apiClient';
import type { AuditEvent, AuditQuery, FreezeResult, Page, User, UserUpdate } from '../api/types';

/** One proof: the password, or a code from the authenticator app (or a backup code). */
export type FreezeProof = { password: string } | { code: string };

export const usersApi = {
  async me(): Promise<User> {
    const { data } = await apiClient.get<User>('/v1/users/me');
    return data;
  },

  async updateMe(body: UserUpdate): Promise<User> {
    const { data } = await apiClient.patch<User>('/v1/users/me', body);
    return data;
  },

  async audit(query: AuditQuery): Promise<Page<AuditEvent>> {
    // URLSearchParams: several event types travel as a repeated `event_type` (not `event_type[]`).
    const params = new URLSearchParams();
    if (query.limit) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    for (const type of query.event_types ?? []) params.append('event_type', type);
    if (query.since) params.set('since', query.since);
    if (query.until) params.set('until', query.until);
    const { data } = await apiClient.get<Page<AuditEvent>>('/v1/users/me/audit', { params });
    return data;
  },

  /** Emergency freeze: every session ends (this one too) and trading stops. */
  async freeze(proof: FreezeProof): Promise<FreezeResult> {
    const { data } = await apiClient.post<FreezeResult>('/v1/users/me/freeze', proof);
    return data;
  },

  /** Password and, with two-factor authentication on, a code; without it a link is e-mailed. */
  async unfreeze(body: { password: string; code?: string }): Promise<FreezeResult> {
    const { data } = await apiClient.post<FreezeResult>('/v1/users/me/unfreeze', body);
    return data;
  },

  async confirmUnfreeze(token: string): Promise<FreezeResult> {
    const { data } = await apiClient.post<FreezeResult>('/v1/users/me/unfreeze/confirm', { token });
    return data;
  },

  /** The link of a new-sign-in e-mail: works signed out (the phone may be gone). */
  async freezeWithLink(token: string): Promise<FreezeResult> {
    const { data } = await apiClient.post<FreezeResult>('/v1/auth/freeze', { token }, { skipAuth: true });
    return data;
  },
};
