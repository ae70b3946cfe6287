/**
 * The one axios client every `*Api.ts` module uses.
 *
 * - The access token lives in this module's memory only (never Web Storage): a reload loses it
 *   and `AuthContext` gets a new one from the HttpOnly refresh cookie.
 * - A 401 on an authenticated request triggers one refresh and one retry. Refreshes are
 *   single-flight: concurrent 401s (and the scheduled refresh) share the same request, because
 *   the refresh token rotates on every use and a second presentation would look like reuse.
 * - When the refresh fails, the registered auth-failure handler signs the user out.
 * - A 403 `step_up_required` (a trading action needs a second factor proven in the last five
 *   minutes) asks the registered step-up handler for a code, which steps up and swaps in the new
 *   access token; the request is then retried once. Concurrent requests share one prompt.
 */
import axios, { AxiosHeaders, type AxiosError, type InternalAxiosRequestConfig } from 'axios';
import type { RefreshResponse } from '../api/types';

declare module 'axios' {
  interface AxiosRequestConfig {
    /** Do not attach the access token and do not refresh on 401 (public auth endpoints). */
    skipAuth?: boolean;
    /** Internal: this request was already retried after a refresh. */
    _retried?: boolean;
    /**
     * The caller shows the end of the session itself (the Platform page): a 401 that a refresh
     * cannot cure rejects with an error `isSessionEndedError` recognises, instead of signing the
     * user out at once and leaving the page.
     */
    reportSessionEnd?: boolean;
    /** Do not offer a step-up on `step_up_required` (the step-up request itself). */
    skipStepUp?: boolean;
    /** Internal: this request was already retried after a step-up. */
    _steppedUp?: boolean;
  }
}

export const apiClient = axios.create({
  baseURL: '/',
  withCredentials: true,
  timeout: 30_000,
  headers: { Accept: 'application/json' },
});

let accessToken: string | null = null;
let refreshInFlight: Promise<RefreshResponse> | null = null;

type RefreshListener = (response: RefreshResponse) => void;
type FailureListener = () => void;
const refreshListeners = new Set<RefreshListener>();
let authFailureHandler: FailureListener | null = null;

export function getAccessToken(): string | null {
  return accessToken;
}

export function setAccessToken(token: string | null): void {
  accessToken = token;
}

/** Called with every successful refresh so the owner can reschedule the next one. */
export function onTokenRefreshed(listener: RefreshListener): () => void {
  refreshListeners.add(listener);
  return () => refreshListeners.delete(listener);
}

/** Called when a 401 could not be cured by a refresh: the session is over. */
export function setAuthFailureHandler(handler: FailureListener | null): void {
  authFailureHandler = handler;
}

/**
 * Asks the person for a code and steps up; resolves with the new access token, or `null`
 * when they cancelled (or cannot step up, e.g. two-factor authentication is off).
 */
export type StepUpHandler = () => Promise<string | null>;
let stepUpHandler: StepUpHandler | null = null;
let stepUpInFlight: Promise<string | null> | null = null;

export function setStepUpHandler(handler: StepUpHandler | null): void {
  stepUpHandler = handler;
}

const stepUpDeclinedErrors = new WeakSet<object>();

/** True for a `step_up_required` error whose prompt the person closed without a code. */
export function isStepUpDeclinedError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && stepUpDeclinedErrors.has(error);
}

function askForStepUp(): Promise<string | null> {
  if (!stepUpHandler) return Promise.resolve(null);
  if (!stepUpInFlight) {
    stepUpInFlight = stepUpHandler().finally(() => {
      stepUpInFlight = null;
    });
  }
  return stepUpInFlight;
}

const sessionEndedErrors = new WeakSet<object>();

/** True for the error of a request whose 401 a refresh could not cure: the session is over. */
export function isSessionEndedError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && sessionEndedErrors.has(error);
}

function sessionEnded(error: AxiosError, config: InternalAxiosRequestConfig): AxiosError {
  accessToken = null;
  sessionEndedErrors.add(error);
  if (!config.reportSessionEnd) authFailureHandler?.();
  return error;
}

/** Web Locks serialise refreshes across tabs that share the one refresh cookie. */
async function withRefreshLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (locks?.request) {
    return locks.request('quantagro-auth-refresh', fn) as Promise<T>;
  }
  return fn();
}

/**
 * Exchange the refresh cookie for a new access token. Concurrent callers share one request.
 * Rejects when there is no valid session.
 */
export function refreshAccessToken(): Promise<RefreshResponse> {
  if (!refreshInFlight) {
    refreshInFlight = withRefreshLock(async () => {
      const { data } = await apiClient.post<RefreshResponse>('/v1/auth/refresh', {}, { skipAuth: true });
      return data;
    })
      .then((data) => {
        accessToken = data.access_token;
        for (const listener of refreshListeners) listener(data);
        return data;
      })
      .finally(() => {
        refreshInFlight = null;
      });
  }
  return refreshInFlight;
}

/** Codes of 401s that judge what the user typed, not the token: never cured by a refresh. */
const CREDENTIAL_CODES = new Set([
  'invalid_credentials',
  'invalid_password',
  'invalid_mfa_code',
  'mfa_session_expired',
  'invalid_code',
]);

apiClient.interceptors.request.use((config: InternalAxiosRequestConfig) => {
  if (!config.skipAuth && accessToken) {
    const headers = AxiosHeaders.from(config.headers);
    if (!headers.has('Authorization')) {
      headers.set('Authorization', `Bearer ${accessToken}`);
    }
    config.headers = headers;
  }
  return config;
});

apiClient.interceptors.response.use(undefined, async (error: AxiosError<{ code?: string }>) => {
  const config = error.config;
  const status = error.response?.status;
  const code = error.response?.data?.code;
  if (config && status === 403 && code === 'step_up_required') {
    if (config.skipStepUp || config._steppedUp) throw error;
    const token = await askForStepUp();
    if (!token) {
      stepUpDeclinedErrors.add(error);
      throw error;
    }
    const headers = AxiosHeaders.from(config.headers);
    headers.set('Authorization', `Bearer ${token}`);
    return apiClient.request({ ...config, headers, _steppedUp: true });
  }
  if (!config || status !== 401 || config.skipAuth || (code && CREDENTIAL_CODES.has(code))) {
    throw error;
  }
  if (config._retried) {
    // A fresh token was refused too: the session is gone.
    throw sessionEnded(error, config);
  }
  let refreshed: RefreshResponse;
  try {
    refreshed = await refreshAccessToken();
  } catch {
    throw sessionEnded(error, config);
  }
  const headers = AxiosHeaders.from(config.headers);
  headers.set('Authorization', `Bearer ${refreshed.access_token}`);
  return apiClient.request({ ...config, headers, _retried: true });
});
