/**
 * Who is signed in, and the life cycle of their access token.
 *
 * The access token is kept in memory only (in `apiClient`); the refresh token is an HttpOnly
 * cookie the browser sends to `/v1/auth/refresh`. On start-up the provider asks for a new access
 * token with that cookie, so a reload keeps the user signed in. A refresh is scheduled shortly
 * before the token expires, and the session ends (state cleared, back to /login) when a refresh
 * fails.
 */
import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { MfaMethod, TokenResponse, User } from '../api/types';
import { onTokenRefreshed, refreshAccessToken, setAccessToken, setAuthFailureHandler } from '../services/apiClient';
import { authApi } from '../services/authApi';
import { usersApi } from '../services/usersApi';

export type AuthStatus = 'loading' | 'authenticated' | 'anonymous';

/**
 * Why the last session ended, for the message on the sign-in page. `ended_elsewhere`: a page
 * learnt that the session was revoked from another device (the ticker's 1008 "Session revoked").
 */
export type EndReason = 'signed_out' | 'signed_out_everywhere' | 'expired' | 'ended_elsewhere' | 'frozen' | null;

export type LoginOutcome = { kind: 'signed_in' } | { kind: 'mfa_required'; sessionToken: string; methods: MfaMethod[] };

export interface AuthContextValue {
  status: AuthStatus;
  user: User | null;
  endReason: EndReason;
  login(email: string, password: string, persistSession: boolean): Promise<LoginOutcome>;
  /** Resolves with how many backup codes are left after a backup-code sign-in, else null. */
  verifyMfa(sessionToken: string, code: string): Promise<number | null>;
  /** Start the session a passkey sign-in (or passkey MFA step) returned. */
  adoptSignIn(tokens: TokenResponse): Promise<void>;
  logout(options?: { allDevices?: boolean }): Promise<void>;
  /** Clears the local session without calling the API (it is already gone server-side). */
  endSession(reason: EndReason): void;
  refreshUser(): Promise<User | null>;
  setUser(user: User): void;
  /** Use a token minted for this session (a step-up) from now on; reschedules the refresh. */
  adoptAccessToken(token: { access_token: string; expires_in: number }): void;
}

const AuthContext = createContext<AuthContextValue | null>(null);

/** Refresh this many seconds before expiry (less for very short tokens). */
const REFRESH_LEAD_SECONDS = 60;
const CHANNEL_NAME = 'quantagro-auth';

export function refreshDelayMs(expiresIn: number): number {
  const lead = Math.min(REFRESH_LEAD_SECONDS, expiresIn / 2);
  return Math.max(1_000, (expiresIn - lead) * 1_000);
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<AuthStatus>('loading');
  const [user, setUserState] = useState<User | null>(null);
  const [endReason, setEndReason] = useState<EndReason>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshDueAt = useRef<number | null>(null);
  const channel = useRef<BroadcastChannel | null>(null);

  const clearTimer = useCallback(() => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    refreshDueAt.current = null;
  }, []);

  const clearLocal = useCallback(
    (reason: EndReason) => {
      clearTimer();
      setAccessToken(null);
      // Nothing read for this session may show after it (or to the next person signing in).
      queryClient.clear();
      setUserState(null);
      setEndReason(reason);
      setStatus('anonymous');
    },
    [clearTimer, queryClient],
  );

  const endSession = useCallback((reason: EndReason) => clearLocal(reason), [clearLocal]);

  const scheduleRefresh = useCallback(
    (expiresIn: number) => {
      clearTimer();
      const delay = refreshDelayMs(expiresIn);
      refreshDueAt.current = Date.now() + delay;
      timer.current = setTimeout(() => {
        refreshAccessToken().catch(() => clearLocal('expired'));
      }, delay);
    },
    [clearLocal, clearTimer],
  );

  // Every refresh, wherever it came from (timer, 401 retry), reschedules the next one.
  useEffect(() => onTokenRefreshed((response) => scheduleRefresh(response.expires_in)), [scheduleRefresh]);

  // A 401 that a refresh could not cure ends the session; ProtectedRoute then sends the user
  // to /login and back to where they were after signing in.
  useEffect(() => {
    setAuthFailureHandler(() => clearLocal('expired'));
    return () => setAuthFailureHandler(null);
  }, [clearLocal]);

  // Start-up: a reload keeps the user signed in through the refresh cookie.
  useEffect(() => {
    let cancelled = false;
    refreshAccessToken()
      .then(() => usersApi.me())
      .then((me) => {
        if (cancelled) return;
        setUserState(me);
        setStatus('authenticated');
      })
      .catch(() => {
        if (cancelled) return;
        setAccessToken(null);
        clearTimer();
        setStatus('anonymous');
      });
    return () => {
      cancelled = true;
    };
  }, [clearTimer]);

  // Timers are throttled in background tabs and stop while a laptop sleeps: catch up on return.
  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState !== 'visible' || refreshDueAt.current === null) return;
      if (Date.now() >= refreshDueAt.current) {
        refreshAccessToken().catch(() => clearLocal('expired'));
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [clearLocal]);

  // Signing out in one tab signs out the others.
  useEffect(() => {
    if (typeof BroadcastChannel === 'undefined') return;
    const bc = new BroadcastChannel(CHANNEL_NAME);
    bc.onmessage = (event: MessageEvent<{ type?: string }>) => {
      if (event.data?.type === 'logout') clearLocal('signed_out');
    };
    channel.current = bc;
    return () => {
      bc.close();
      channel.current = null;
    };
  }, [clearLocal]);

  useEffect(() => clearTimer, [clearTimer]);

  const startSession = useCallback(
    async (tokens: TokenResponse) => {
      setAccessToken(tokens.access_token);
      scheduleRefresh(tokens.expires_in);
      let me: User = tokens.user;
      try {
        me = await usersApi.me();
      } catch {
        // The login response already carries the user; the full profile can wait.
      }
      setUserState(me);
      setEndReason(null);
      setStatus('authenticated');
    },
    [scheduleRefresh],
  );

  const login = useCallback(
    async (email: string, password: string, persistSession: boolean): Promise<LoginOutcome> => {
      const response = await authApi.login({ email, password, persist_session: persistSession });
      if ('status' in response && response.status === 'mfa_required') {
        const methods = response.methods.filter(
          (m): m is MfaMethod => m === 'totp' || m === 'passkey' || m === 'backup_code',
        );
        return { kind: 'mfa_required', sessionToken: response.session_token, methods };
      }
      await startSession(response as TokenResponse);
      return { kind: 'signed_in' };
    },
    [startSession],
  );

  const verifyMfa = useCallback(
    async (sessionToken: string, code: string) => {
      const tokens = await authApi.verifyMfa(sessionToken, code);
      await startSession(tokens);
      return tokens.backup_codes_remaining ?? null;
    },
    [startSession],
  );

  const logout = useCallback(
    async ({ allDevices = false }: { allDevices?: boolean } = {}) => {
      try {
        await authApi.logout(allDevices);
      } catch (error) {
        // Signing out of this device must always work locally; signing out everywhere must not
        // pretend to have succeeded.
        if (allDevices) throw error;
      }
      channel.current?.postMessage({ type: 'logout' });
      // ProtectedRoute then sends the user to /login (without a page to come back to).
      clearLocal(allDevices ? 'signed_out_everywhere' : 'signed_out');
    },
    [clearLocal],
  );

  const refreshUser = useCallback(async () => {
    try {
      const me = await usersApi.me();
      setUserState(me);
      return me;
    } catch {
      return null;
    }
  }, []);

  const setUser = useCallback((next: User) => setUserState(next), []);

  const adoptAccessToken = useCallback(
    (token: { access_token: string; expires_in: number }) => {
      setAccessToken(token.access_token);
      scheduleRefresh(token.expires_in);
    },
    [scheduleRefresh],
  );

  const value = useMemo<AuthContextValue>(
    () => ({
      status,
      user,
      endReason,
      login,
      verifyMfa,
      adoptSignIn: startSession,
      logout,
      endSession,
      refreshUser,
      setUser,
      adoptAccessToken,
    }),
    [
      status,
      user,
      endReason,
      login,
      verifyMfa,
      startSession,
      logout,
      endSession,
      refreshUser,
      setUser,
      adoptAccessToken,
    ],
  );

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthContextValue {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth must be used inside <AuthProvider>');
  return value;
}
