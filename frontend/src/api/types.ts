/**
 * API types of the User Service, taken from the OpenAPI document it exports
 * (`npm run gen:api` turns `openapi.json` into `schema.d.ts`), so client and service cannot
 * drift. Types are looked up by path and method — the contract of docs/api.md §3 — rather than by the
 * service's internal class names. Only the error body is written here: one handler renders it
 * for every endpoint and FastAPI's schema does not describe it.
 */
import type { paths } from './schema';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The JSON body of a successful (2xx) response of `method path`. */
type Ok<P extends keyof paths, M extends Method> = paths[P][M] extends {
  responses: infer R;
}
  ? {
      [S in keyof R]: S extends 200 | 201 | 202
        ? R[S] extends { content: { 'application/json': infer T } }
          ? T
          : never
        : never;
    }[keyof R]
  : never;

/** The JSON request body of `method path`. */
type Body<P extends keyof paths, M extends Method> = paths[P][M] extends {
  requestBody?: { content: { 'application/json': infer T } };
}
  ? T
  : never;

export interface ApiFieldError {
  field: string;
  message: string;
  code?: string;
}

/** docs/api.md §3: `{detail, code}` plus per-field `errors` for validation failures. */
export interface ApiErrorBody {
  detail: string;
  code: string;
  errors?: ApiFieldError[];
}

export type LoginRequest = Body<'/v1/auth/login', 'post'>;
export type LoginResponse = Ok<'/v1/auth/login', 'post'>;
export type MfaRequiredResponse = Extract<LoginResponse, { status: 'mfa_required' }>;
export type TokenResponse = Exclude<LoginResponse, MfaRequiredResponse>;
export type MfaVerifyResponse = Ok<'/v1/auth/mfa/verify', 'post'>;
export type RefreshResponse = Ok<'/v1/auth/refresh', 'post'>;
export type RegisterRequest = Body<'/v1/auth/register', 'post'>;
export type RegisterResponse = Ok<'/v1/auth/register', 'post'>;
export type LogoutResponse = Ok<'/v1/auth/logout', 'post'>;
export type SessionList = Ok<'/v1/auth/sessions', 'get'>;
export type Session = SessionList['sessions'][number];

export type User = Ok<'/v1/users/me', 'get'>;
export type UserUpdate = Body<'/v1/users/me', 'patch'>;
export type AuditPage = Ok<'/v1/users/me/audit', 'get'>;
export type AuditEvent = AuditPage['items'][number];
/** Emergency freeze (docs/freeze.md): the same answer for freeze, unfreeze and their links. */
export type FreezeResult = Ok<'/v1/users/me/freeze', 'post'>;
export type StepUpResponse = Ok<'/v1/auth/step-up', 'post'>;

export type TotpSetupResponse = Ok<'/v1/mfa/totp/setup', 'post'>;
export type BackupCodesResponse = Ok<'/v1/mfa/totp/enable', 'post'>;
export type DisableMfaRequest = Body<'/v1/mfa/totp/disable', 'post'>;

export type TradingAccountPage = Ok<'/v1/trading-accounts', 'get'>;
export type TradingAccount = TradingAccountPage['items'][number];
export type TradingAccountCreate = Body<'/v1/trading-accounts', 'post'>;
export type TradingAccountVerification = Ok<'/v1/trading-accounts/{account_id}/verify', 'post'>;
export type CredentialsRotate = Body<'/v1/trading-accounts/{account_id}/credentials', 'put'>;
export type KiteLoginUrl = Ok<'/v1/trading-accounts/{account_id}/kite/login-url', 'get'>;
export type MemberCreate = Body<'/v1/trading-accounts/{account_id}/members', 'post'>;
export type MemberList = Ok<'/v1/trading-accounts/{account_id}/members', 'get'>;
export type TradingAccountMember = MemberList['items'][number];
export type AccountPermission = MemberCreate['permissions'][number];

/** The second factors the MFA step offers. */
export type MfaMethod = 'totp' | 'passkey' | 'backup_code';

export type FactorList = Ok<'/v1/mfa/factors', 'get'>;
export type Factor = FactorList['factors'][number];
export type PasskeyCeremony = Ok<'/v1/mfa/passkeys/register/options', 'post'>;
export type PasskeyRegistered = Ok<'/v1/mfa/passkeys/register/verify', 'post'>;
export type RecentAuth = Ok<'/v1/auth/reauthenticate', 'post'>;
export type ReauthenticateRequest = Body<'/v1/auth/reauthenticate', 'post'>;

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface AuditQuery {
  limit?: number;
  cursor?: string | null;
  /** Any of these (each may end in `.*`). */
  event_types?: string[] | undefined;
  since?: string | undefined;
  until?: string | undefined;
}
