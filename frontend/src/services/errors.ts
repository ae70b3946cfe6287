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
}

const FALLBACK_MESSAGES: Record<string, string> = {
  invalid_credentials: 'The email or password is incorrect.',
  email_already_registered: 'An account with this email already exists.',
  weak_password: 'Choose a stronger password.',
  validation_error: 'Some fields need your attention.',
  invalid_mfa_code: 'That code is not valid. Check your authenticator and try again.',
  mfa_session_expired: 'The sign-in step timed out. Please enter your email and password again.',
  reset_token_invalid: 'This reset link is invalid or has already been used.',
  email_not_verified: 'Verify your email address first.',
  token_reused: 'Your session was ended for your safety. Please sign in again.',
  session_revoked: 'Your session has ended. Please sign in again.',
  not_found: 'We could not find what you asked for.',
  network_error: 'Cannot reach the server. Check your connection and try again.',
};

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

function formatWait(seconds: number): string {
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
        message: FALLBACK_MESSAGES.network_error!,
        fieldErrors: {},
        retryAfter: null,
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
      const message = String(item.message ?? item.msg ?? 'Invalid value.');
      if (name && !fieldErrors[name]) fieldErrors[name] = message;
      else if (name) fieldErrors[name] = `${fieldErrors[name]} ${message}`;
    }
    const retryHeader = headers?.['retry-after'] as string | undefined;
    const retryAfter = retryHeader && /^\d+$/.test(retryHeader) ? Number(retryHeader) : null;
    let message =
      typeof body.detail === 'string' && body.detail ? body.detail : FALLBACK_MESSAGES[code] ?? '';
    if (status === 429) {
      message = `Too many attempts. ${retryAfter ? `Try again in ${formatWait(retryAfter)}.` : 'Please wait a moment and try again.'}`;
    }
    if (!message) {
      message = status >= 500 ? 'Something went wrong on our side. Please try again.' : 'The request failed.';
    }
    return { status, code, message, fieldErrors, retryAfter };
  }
  return {
    status: null,
    code: 'error',
    message: error instanceof Error ? error.message : 'Something went wrong.',
    fieldErrors: {},
    retryAfter: null,
  };
}
