import { apiClient } from './apiClient';
import type {
  CredentialsRotate,
  KiteLoginUrl,
  MemberCreate,
  MemberList,
  TradingAccount,
  TradingAccountCreate,
  TradingAccountMember,
  TradingAccountPage,
  TradingAccountVerification,
} from '../api/types';

const base = '/v1/trading-accounts';
const path = (accountId: string) => `${base}/${encodeURIComponent(accountId)}`;

export const tradingAccountsApi = {
  async list(): Promise<TradingAccount[]> {
    const { data } = await apiClient.get<TradingAccountPage>(base, { params: { limit: 100 } });
    return data.items;
  },

  async create(body: TradingAccountCreate): Promise<TradingAccount> {
    const { data } = await apiClient.post<TradingAccount>(base, body);
    return data;
  },

  async kiteLoginUrl(accountId: string): Promise<string> {
    const { data } = await apiClient.get<KiteLoginUrl>(`${path(accountId)}/kite/login-url`);
    return data.login_url;
  },

  async kiteSession(accountId: string, requestToken: string): Promise<TradingAccountVerification> {
    const { data } = await apiClient.post<TradingAccountVerification>(`${path(accountId)}/kite/session`, {
      request_token: requestToken,
    });
    return data;
  },

  async verify(accountId: string): Promise<TradingAccountVerification> {
    const { data } = await apiClient.post<TradingAccountVerification>(`${path(accountId)}/verify`, {});
    return data;
  },

  async rotateCredentials(accountId: string, body: CredentialsRotate): Promise<TradingAccount> {
    const { data } = await apiClient.put<TradingAccount>(`${path(accountId)}/credentials`, body);
    return data;
  },

  async unlink(accountId: string): Promise<void> {
    await apiClient.delete(path(accountId));
  },

  async listMembers(accountId: string): Promise<TradingAccountMember[]> {
    const { data } = await apiClient.get<MemberList>(`${path(accountId)}/members`, { params: { limit: 100 } });
    return data.items;
  },

  async addMember(accountId: string, body: MemberCreate): Promise<TradingAccountMember> {
    const { data } = await apiClient.post<TradingAccountMember>(`${path(accountId)}/members`, body);
    return data;
  },

  async removeMember(accountId: string, userId: string): Promise<void> {
    await apiClient.delete(`${path(accountId)}/members/${encodeURIComponent(userId)}`);
  },

  /** Stop being a member of an account shared with you. */
  async leave(accountId: string): Promise<void> {
    await apiClient.delete(`${path(accountId)}/members/me`);
  },
};
