/** Turns any failure of an API call into something a form can show. */
import { isAxiosError } from 'axios';
import type { ApiErrorBody } from '../api/types';

export interface ApiProblem {
  status: number | null;
  code: string;
  /** One sentence for the page's alert region. */
  message: string;
  /** Field name → message, for inline errors. */
  fieldErrors: Record<string, string>;
  /** Seconds, from `Retry-After` on a 429. */
  retryAfter: number | null;
  /** Why an e-mailed link no longer works (`token_used`, `token_replaced`, …), when told. */
  reason: string | null;
  /** Wrong codes left before an MFA sign-in attempt ends, when told. */
  attemptsRemaining: number | null;
}

/**
 * Plain words for every error `code` the service answers, written for a trader. The server's
 * `detail` is never shown as is: it may name endpoints, codes or a broker's raw message.
 * Pages may pass their own sentence for a code (useAsyncForm's `messages`), never the detail.
 */
const NETWORK_ERROR = 'Cannot reach the server. Check your connection and try again.';

export const ERROR_MESSAGES: Record<string, string> = {
  // signing in and sessions
  invalid_credentials: 'The email or password is incorrect.',
  invalid_password: 'The password is not correct.',
  account_inactive: 'This account is not active. Contact support if you think this is a mistake.',
  account_not_active: 'This account is not active. Contact support if you think this is a mistake.',
  email_already_registered: 'An account with this email already exists.',
  email_already_verified: 'Your email address is already verified.',
  email_not_verified: 'Verify your email address first: open the link we sent you.',
  weak_password: 'Choose a stronger password.',
  validation_error: 'Some fields need your attention.',
  invalid_mfa_code: 'That code is not valid. Check your authenticator and try again.',
  invalid_code: 'That code is not valid. Check your authenticator and try again.',
  mfa_session_expired: 'The sign-in step timed out. Please enter your email and password again.',
  mfa_session_invalid: 'This sign-in attempt has ended. Sign in again.',
  mfa_already_enabled: 'Two-factor authentication is already on.',
  mfa_not_enabled: 'Two-factor authentication is off.',
  mfa_setup_required: 'Start the set-up again to get a new code.',
  second_factor_required: 'Confirm with a code from your authenticator app first.',
  risky_sign_in_needs_mfa: 'This sign-in looks unusual. Turn on two-factor authentication, then try again.',
  step_up_required: 'Confirm with a code from your authenticator app to continue.',
  reset_token_invalid: 'This reset link no longer works. Ask for a new one.',
  verification_token_invalid: 'This verification link no longer works. Ask for a new one.',
  freeze_token_invalid: 'This link no longer works. Ask for a new one.',
  unfreeze_token_invalid: 'This link no longer works. Ask for a new one.',
  unfreeze_token_other_user: 'This link belongs to another account. Sign in as that account to use it.',
  account_frozen: 'Your account is frozen: unfreeze it in Security first.',
  account_not_frozen: 'Your account is not frozen.',
  cannot_unfreeze_self: 'Use the link we e-mailed you to unfreeze your account.',
  token_reused: 'Your session was ended for your safety. Please sign in again.',
  token_revoked: 'Your session has ended. Please sign in again.',
  token_expired: 'Your session has ended. Please sign in again.',
  invalid_token: 'Your session has ended. Please sign in again.',
  session_revoked: 'Your session has ended. Please sign in again.',
  session_expired: 'Your session has ended. Please sign in again.',
  invalid_refresh_token: 'Your session has ended. Please sign in again.',
  refresh_token_expired: 'Your session has ended. Please sign in again.',
  missing_refresh_token: 'Your session has ended. Please sign in again.',
  not_authenticated: 'Please sign in again.',
  session_not_found: 'That device is already signed out.',
  cross_site_request: 'The request came from another site and was refused. Reload the page and try again.',
  preferences_too_large: 'Those settings are too large to save.',
  invalid_cursor: 'The list changed while you were reading it. Reload the page.',
  invalid_limit: 'The list could not be loaded. Reload the page.',
  invalid_range: 'The start date must be before the end date.',
  // authenticators and passkeys
  recent_auth_required: 'For your safety, confirm your password again to change how you sign in.',
  last_factor: 'Your account must keep at least one authenticator. Add another one before removing this.',
  factor_not_found: 'That authenticator was already removed.',
  passkey_invalid: 'The passkey was not accepted. Try again, or use another way to sign in.',
  passkey_challenge_invalid: 'The passkey request timed out. Try again.',
  passkey_cloned: 'This passkey looks copied and was refused for your safety. Remove it and add it again.',
  passkey_already_registered: 'This passkey is already added to your account.',
  passkey_not_registered: 'This passkey is not added to any account. Sign in with your password.',
  // sign-in with Google (or another identity provider)
  provider_not_configured: 'Signing in with Google is not available on this server.',
  invalid_oidc_state: 'The Google sign-in expired or was started in another browser. Start again.',
  invalid_id_token: 'Google’s answer could not be checked. Start the sign-in again.',
  oidc_code_rejected: 'Google did not accept the sign-in. Start again.',
  oidc_email_not_verified: 'Your Google account’s e-mail is not verified. Verify it with Google, then try again.',
  oidc_provider_unavailable: 'Google is not answering right now. Try again in a few minutes.',
  invalid_link_token: 'This linking step has ended. Sign in with Google again.',
  mfa_code_required: 'Enter a code from your authenticator app as well.',
  identity_in_use: 'This Google account is already linked to another Quantagro account.',
  identity_already_linked: 'A Google account is already linked. Unlink it first.',
  identity_not_found: 'That Google account was already unlinked.',
  last_sign_in_method: 'This is your only way to sign in. Set a password first (Forgot password), then unlink.',
  // trading accounts
  trading_account_not_found: 'This trading account is no longer available to you.',
  trading_account_already_linked: 'This Kite account is already linked to a Quantagro account.',
  trading_account_changed: 'Someone changed this account at the same moment. Try again.',
  session_ended_daily: 'Kite ends sessions daily at 6:00 — reconnect with Kite to trade today.',
  access_token_expired: 'Kite ends sessions daily at 6:00 — reconnect with Kite to trade today.',
  credentials_rejected: 'Kite did not accept the API key and secret. Rotate the credentials, then connect again.',
  broker_login_required: 'Connect with Kite first: Kite issues a new session every trading day.',
  broker_auth_failed: 'Kite refused the session. Connect with Kite again.',
  broker_rejected: 'Kite refused the request. Check the API key and secret of your Kite Connect app.',
  broker_input_invalid: 'Kite did not accept the details. Check the client ID, API key and secret.',
  broker_user_mismatch:
    'You signed in to Kite as a different client ID. Connect again and sign in to Kite with this account’s client ID.',
  broker_unavailable: 'Kite is not answering right now. Try again in a few minutes.',
  broker_error: 'Kite is not answering right now. Try again in a few minutes.',
  broker_timeout: 'Kite took too long to answer. Try again in a few minutes.',
  broker_not_configured: 'Kite is not set up on this server. Contact support.',
  credentials_unreadable: 'The stored credentials cannot be read. Rotate the credentials to continue.',
  wrong_broker: 'This action is only for Kite accounts.',
  account_permission_required: 'You do not have permission to do that on this account.',
  permission_not_held: 'You can only share the permissions you hold yourself.',
  owner_only_permission: 'Only the owner can give or change “Manage”.',
  owner_not_removable: 'The owner cannot be removed from their own account.',
  member_is_owner: 'That person owns this account already.',
  member_not_found: 'That person is no longer a member of this account.',
  user_not_found: 'There is no Quantagro user with that email.',
  invalid_expiry: 'Choose an end between a minute from now and one year ahead, or leave it empty.',
  grant_outlives_yours: 'Your own access ends earlier: choose an end on or before it.',
  // anything else
  forbidden: 'You do not have permission to do that.',
  role_required: 'You do not have permission to do that.',
  not_found: 'We could not find what you asked for.',
  resource_not_found: 'We could not find what you asked for.',
  service_unavailable: 'The service is busy right now. Try again in a moment.',
  bad_gateway: 'A service we depend on is not answering. Try again in a moment.',
  gateway_timeout: 'A service we depend on took too long to answer. Try again in a moment.',
  network_error: NETWORK_ERROR,
};

/** One sentence for any code, never the server's detail. */
export function messageForCode(code: string, status: number | null = null): string {
  return (
    ERROR_MESSAGES[code] ??
    (status !== null && status >= 500
      ? 'Something went wrong on our side. Please try again.'
      : 'That did not work. Please try again, or reload the page.')
  );
}

/** Normalises a field path such as `body.password` or `["body","password"]`. */
function fieldName(field: unknown): string {
  if (Array.isArray(field)) {
    const parts = field.filter((part) => typeof part === 'string' && part !== 'body');
    return String(parts[parts.length - 1] ?? '');
  }
  const text = String(field ?? '');
  const parts = text.split('.').filter((part) => part && part !== 'body');
  return parts[parts.length - 1] ?? text;
}

/**
 * A 422's per-field message in the trader's words: the service passes the validator's own
 * sentence (“String should match pattern '^\\+?[0-9 ()-]{4,32}$'”, “Value error, …”), which may
 * name a regular expression or a type.
 */
export function plainFieldMessage(type: unknown, message: string): string {
  const count = message.match(/\d+/)?.[0];
  switch (type) {
    case 'missing':
      return 'This field is required.';
    case 'string_too_short':
      return count ? `Use at least ${count} character${count === '1' ? '' : 's'}.` : 'This is too short.';
    case 'string_too_long':
      return count ? `Use at most ${count} characters.` : 'This is too long.';
    case 'string_pattern_mismatch':
      return 'This is not in the expected format.';
    case 'string_type':
    case 'int_parsing':
    case 'bool_parsing':
    case 'enum':
    case 'literal_error':
      return 'This value is not accepted.';
    default:
      break;
  }
  if (/email address/i.test(message)) return 'Enter a valid email address, like name@example.com.';
  const plain = message.replace(/^(Value error|Assertion failed), /, '');
  // Anything still naming a pattern, a type or an internal value is not for a trader.
  return /[\^$\\[\]{}]|\binput\b|\btype\b/i.test(plain) ? 'This value is not accepted.' : plain;
}

export function formatWait(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

export function toApiProblem(error: unknown): ApiProblem {
  if (isAxiosError(error)) {
    if (!error.response) {
      return {
        status: null,
        code: 'network_error',
        message: NETWORK_ERROR,
        fieldErrors: {},
        retryAfter: null,
        reason: null,
        attemptsRemaining: null,
      };
    }
    const { status, data, headers } = error.response;
    const body = (data && typeof data === 'object' ? data : {}) as Partial<ApiErrorBody> & {
      errors?: unknown;
    };
    const code = typeof body.code === 'string' ? body.code : status === 404 ? 'not_found' : 'error';
    const fieldErrors: Record<string, string> = {};
    const rawErrors = Array.isArray(body.errors) ? body.errors : Array.isArray(body.detail) ? body.detail : [];
    for (const item of rawErrors as Array<Record<string, unknown>>) {
      const name = fieldName(item.field ?? item.loc);
      const message = plainFieldMessage(item.type, String(item.message ?? item.msg ?? 'This value is not accepted.'));
      if (name && !fieldErrors[name]) fieldErrors[name] = message;
      else if (name) fieldErrors[name] = `${fieldErrors[name]} ${message}`;
    }
    const reason =
      typeof (body as { reason?: unknown }).reason === 'string' ? (body as { reason: string }).reason : null;
    const attemptsRemaining =
      typeof (body as { attempts_remaining?: unknown }).attempts_remaining === 'number'
        ? (body as { attempts_remaining: number }).attempts_remaining
        : null;
    const retryHeader = headers?.['retry-after'] as string | undefined;
    const retryAfter = retryHeader && /^\d+$/.test(retryHeader) ? Number(retryHeader) : null;
    let message = messageForCode(code, status);
    if (status === 429) {
      message = `Too many attempts. ${retryAfter ? `Try again in ${formatWait(retryAfter)}.` : 'Please wait a moment and try again.'}`;
    }
    return { status, code, message, fieldErrors, retryAfter, reason, attemptsRemaining };
  }
  return {
    status: null,
    code: 'error',
    message: 'Something went wrong. Please try again.',
    fieldErrors: {},
    retryAfter: null,
    reason: null,
    attemptsRemaining: null,
  };
}
