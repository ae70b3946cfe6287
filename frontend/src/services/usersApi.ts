import { apiClient } from './apiClient';
import type { AuditEvent, AuditQuery, Page, User, UserUpdate } from '../api/types';

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
    const params: Record<string, string | number> = {};
    if (query.limit) params.limit = query.limit;
    if (query.cursor) params.cursor = query.cursor;
    if (query.event_type) params.event_type = query.event_type;
    if (query.since) params.since = query.since;
    if (query.until) params.until = query.until;
    const { data } = await apiClient.get<Page<AuditEvent>>('/v1/users/me/audit', { params });
    return data;
  },
};
