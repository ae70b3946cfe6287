/**
 * What the console reads, as TanStack Query hooks, and the keys mutations invalidate.
 * The client's defaults (retries, caching) are in `queryClient.ts`.
 */
import { keepPreviousData, useInfiniteQuery, useQuery } from '@tanstack/react-query';
import type { AuditQuery } from '../api/types';
import { authApi } from './authApi';
import { identitiesApi } from './identitiesApi';
import { mfaApi } from './mfaApi';
import { tradingAccountsApi } from './tradingAccountsApi';
import { usersApi } from './usersApi';

export const queryKeys = {
  sessions: ['sessions'],
  factors: ['mfa', 'factors'],
  identities: ['identities'],
  providers: ['identity-providers'],
  /** Every trading-account query (the list and each account's members) starts with this. */
  tradingAccounts: ['trading-accounts'],
  members: (accountId: string) => ['trading-accounts', accountId, 'members'],
  /** `POST /v1/auth/password/reset/check`: the token travels in the body, never in a URL. */
  resetLink: (token: string) => ['reset-link', token],
  positions: ['platform', 'positions'],
  alerts: ['platform', 'alerts'],
  audit: (filter: Omit<AuditQuery, 'cursor'>) => ['audit', filter],
} as const;

/** This browser's session first. */
export function useSessionsQuery() {
  return useQuery({
    queryKey: queryKeys.sessions,
    queryFn: authApi.listSessions,
    select: (data) => [...data.sessions].sort((a, b) => Number(b.current) - Number(a.current)),
  });
}

/**
 * The activity log, a page at a time ("Load more" is `fetchNextPage`). While other filters load,
 * the rows of the previous ones stay on screen (`isPlaceholderData`).
 */
export function useAuditQuery(filter: Omit<AuditQuery, 'cursor'>) {
  return useInfiniteQuery({
    queryKey: queryKeys.audit(filter),
    queryFn: ({ pageParam }) => usersApi.audit({ ...filter, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.next_cursor,
    placeholderData: keepPreviousData,
  });
}

export function useFactorsQuery() {
  return useQuery({ queryKey: queryKeys.factors, queryFn: mfaApi.factors });
}

export function useIdentitiesQuery() {
  return useQuery({ queryKey: queryKeys.identities, queryFn: identitiesApi.list });
}

export function useProvidersQuery() {
  return useQuery({ queryKey: queryKeys.providers, queryFn: identitiesApi.providers });
}

export function useTradingAccountsQuery() {
  return useQuery({ queryKey: queryKeys.tradingAccounts, queryFn: tradingAccountsApi.list });
}

export function useMembersQuery(accountId: string, enabled = true) {
  return useQuery({
    queryKey: queryKeys.members(accountId),
    queryFn: () => tradingAccountsApi.listMembers(accountId),
    enabled,
  });
}
