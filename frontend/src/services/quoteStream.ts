/**
 * The ticker's WebSocket protocol (`WS /ws/quotes`, examples/ticker/app.py), without React.
 *
 * - The access token travels as the subprotocol pair `bearer, <token>` (browsers cannot set
 *   headers on a WebSocket, and a token in the URL ends up in logs); the server selects
 *   `bearer`.
 * - Messages: `accounts`, then `quote`s; `account_error` for an account that cannot stream;
 *   `renewed` answers a `{"type": "renew", "token"}` the client sends after each refresh.
 * - Auth failures close with 1008 and a reason (the SDK's fixed sentences, below); what the
 *   page does about a close is decided by `classifyClose`.
 */
import { platformConfig } from './platformConfig';

export interface StreamAccount {
  account_id: string;
  user_id_broker: string;
}

export type TickerMessage =
  | { type: 'accounts'; accounts: StreamAccount[] }
  | { type: 'quote'; account_id: string; symbol: string; last_price: number; timestamp: string }
  | { type: 'account_error'; account_id: string; code: string }
  | { type: 'renewed'; expires_at: number };

export const POLICY_VIOLATION = 1008;
export const TRY_AGAIN_LATER = 1013;
export const NORMAL_CLOSURE = 1000;

/** What a close means for the page. */
export type CloseVerdict =
  /** The session was signed out (on another device, or everywhere): stop for good. */
  | { kind: 'session_revoked' }
  /** The user was disabled or frozen: stop for good. */
  | { kind: 'user_disabled' }
  /** The token was missing, invalid or expired: one refresh, then one new connection. */
  | { kind: 'token_rejected' }
  /** A trading account ended (unlinked, rotated, expired, unshared): stop, say why. */
  | { kind: 'account_ended'; message: string }
  /** The service went away or could not check the token: try again a few times. */
  | { kind: 'dropped' };

const ACCOUNT_REASONS: Record<string, string> = {
  'Trading account unlinked': 'A trading account was unlinked, so its live quotes stopped.',
  'Trading account credentials changed': 'A trading account’s API credentials changed, so its live quotes stopped.',
  'Trading account session expired':
    'Your Kite login for today has expired. Connect the account again on Trading accounts to resume quotes.',
  'Access to the trading account was removed':
    'You no longer have access to a shared trading account, so its quotes stopped.',
  'Trading account unavailable': 'A trading account is no longer available, so live quotes stopped.',
};

export function classifyClose(code: number, reason: string): CloseVerdict {
  if (code !== POLICY_VIOLATION) return { kind: 'dropped' };
  const text = reason.trim();
  if (text === 'Session revoked') return { kind: 'session_revoked' };
  if (text === 'User disabled') return { kind: 'user_disabled' };
  if (/token/i.test(text)) return { kind: 'token_rejected' };
  const message = ACCOUNT_REASONS[text];
  if (message) return { kind: 'account_ended', message };
  return { kind: 'account_ended', message: 'The quote service stopped the stream.' };
}

const ACCOUNT_ERRORS: Record<string, string> = {
  account_not_active: 'Not connected today. Connect it on Trading accounts to see its quotes.',
  account_frozen: 'This account is frozen, so it cannot stream quotes.',
  trading_account_not_found: 'This account is no longer linked.',
  quote_feed_failed: 'The broker’s quote feed is not answering for this account.',
};

/** A per-account problem in plain words (never the code itself). */
export function describeAccountError(code: string): string {
  return ACCOUNT_ERRORS[code] ?? 'Quotes for this account are unavailable right now.';
}

export function parseTickerMessage(data: unknown): TickerMessage | null {
  if (typeof data !== 'string') return null;
  try {
    const message = JSON.parse(data) as { type?: unknown };
    return message && typeof message.type === 'string' ? (message as TickerMessage) : null;
  } catch {
    return null;
  }
}

/**
 * Opens the quote socket with the token as a subprotocol. Only if this browser refuses the
 * token as a subprotocol value does it fall back to `?token=`.
 */
export function openQuoteSocket(token: string): WebSocket {
  const url = `${platformConfig.tickerUrl}/ws/quotes`;
  try {
    return new WebSocket(url, ['bearer', token]);
  } catch (error) {
    // A SyntaxError is about the protocol list; anything else (a CSP refusal) is not.
    if (!(error instanceof DOMException && error.name === 'SyntaxError')) throw error;
    return new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
  }
}

export function renewMessage(token: string): string {
  return JSON.stringify({ type: 'renew', token });
}
