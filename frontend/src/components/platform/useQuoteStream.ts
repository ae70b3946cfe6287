import { useCallback, useEffect, useRef, useState } from 'react';
import { getAccessToken, onTokenRefreshed, refreshAccessToken } from '../../services/apiClient';
import {
  NORMAL_CLOSURE,
  classifyClose,
  describeAccountError,
  openQuoteSocket,
  parseTickerMessage,
  renewMessage,
  type StreamAccount,
  type TickerMessage,
} from '../../services/quoteStream';

export type QuoteStreamStatus = 'connecting' | 'live' | 'reconnecting' | 'unavailable' | 'stopped';

/** Why the stream learnt that the session is over. */
export type SessionEnd = 'revoked' | 'disabled' | 'expired';

export interface QuoteRow {
  accountId: string;
  symbol: string;
  lastPrice: number;
  previousPrice: number | null;
  timestamp: string;
  updates: number;
}

export interface QuoteStreamState {
  status: QuoteStreamStatus;
  /** Plain words for `reconnecting`, `unavailable` and `stopped`. */
  message: string | null;
  /** The trader's streaming accounts; `null` until the ticker has listed them. */
  accounts: StreamAccount[] | null;
  quotes: QuoteRow[];
  /** account_id → what is wrong with it. */
  accountErrors: Record<string, string>;
}

/** Waits before the automatic reconnections after a drop; then the trader decides. */
export const RECONNECT_DELAYS_MS = [1_000, 3_000, 8_000];
export const UNAVAILABLE = 'Quotes are unavailable right now.';

const INITIAL: QuoteStreamState = {
  status: 'connecting',
  message: null,
  accounts: null,
  quotes: [],
  accountErrors: {},
};

function applyQuote(rows: QuoteRow[], message: Extract<TickerMessage, { type: 'quote' }>): QuoteRow[] {
  const index = rows.findIndex((row) => row.accountId === message.account_id && row.symbol === message.symbol);
  if (index < 0) {
    const added: QuoteRow = {
      accountId: message.account_id,
      symbol: message.symbol,
      lastPrice: message.last_price,
      previousPrice: null,
      timestamp: message.timestamp,
      updates: 1,
    };
    return [...rows, added].sort((a, b) => a.accountId.localeCompare(b.accountId) || a.symbol.localeCompare(b.symbol));
  }
  const current = rows[index];
  if (!current) return rows;
  const next = [...rows];
  next[index] = {
    ...current,
    previousPrice: current.lastPrice,
    lastPrice: message.last_price,
    timestamp: message.timestamp,
    updates: current.updates + 1,
  };
  return next;
}

/**
 * Live quotes from the ticker for as long as `enabled`, with the session's access token:
 * renewed on the open socket after every refresh (AuthContext's timer or a 401 retry), one
 * refresh-and-reconnect when the ticker refuses the token, a few spaced reconnections after a
 * drop, and none at all once the session has ended (`onSessionEnded`) — no reconnect loop.
 */
export function useQuoteStream({
  enabled,
  onSessionEnded,
}: {
  enabled: boolean;
  onSessionEnded(end: SessionEnd): void;
}) {
  const [state, setState] = useState<QuoteStreamState>(INITIAL);
  const [generation, setGeneration] = useState(0);
  const sessionEnded = useRef(onSessionEnded);
  sessionEnded.current = onSessionEnded;

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new generation (reconnect) opens a new socket
  useEffect(() => {
    if (!enabled) {
      setState((s) =>
        s.status === 'stopped' ? s : { ...s, status: 'stopped', message: s.message ?? 'Live quotes have stopped.' },
      );
      return;
    }
    let cancelled = false;
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let drops = 0;
    let tokenRetried = false;

    const update = (patch: Partial<QuoteStreamState>) => {
      if (!cancelled) setState((s) => ({ ...s, ...patch }));
    };

    const stop = (message: string, end?: SessionEnd) => {
      update({ status: 'stopped', message });
      if (end) sessionEnded.current(end);
    };

    const onMessage = (message: TickerMessage) => {
      switch (message.type) {
        case 'accounts':
          // The ticker accepted this token: later refusals deserve a fresh retry budget.
          drops = 0;
          tokenRetried = false;
          update({ status: 'live', message: null, accounts: message.accounts });
          break;
        case 'quote':
          if (!cancelled) setState((s) => ({ ...s, quotes: applyQuote(s.quotes, message) }));
          break;
        case 'account_error':
          if (!cancelled) {
            setState((s) => ({
              ...s,
              accountErrors: { ...s.accountErrors, [message.account_id]: describeAccountError(message.code) },
            }));
          }
          break;
        default:
          break;
      }
    };

    const onClose = (code: number, reason: string) => {
      const verdict = classifyClose(code, reason);
      switch (verdict.kind) {
        case 'session_revoked':
          stop('Live quotes stopped because you were signed out.', 'revoked');
          return;
        case 'user_disabled':
          stop('Live quotes stopped because your account is no longer active.', 'disabled');
          return;
        case 'account_ended':
          stop(verdict.message);
          return;
        case 'token_rejected':
          if (tokenRetried) {
            update({ status: 'unavailable', message: UNAVAILABLE });
            return;
          }
          tokenRetried = true;
          update({ status: 'reconnecting', message: 'Reconnecting…' });
          refreshAccessToken().then(
            () => {
              if (!cancelled) connect();
            },
            () => {
              if (!cancelled) stop('Live quotes stopped because your session has ended.', 'expired');
            },
          );
          return;
        case 'dropped': {
          const delay = RECONNECT_DELAYS_MS[drops];
          if (delay === undefined) {
            update({ status: 'unavailable', message: UNAVAILABLE });
            return;
          }
          drops += 1;
          update({ status: 'reconnecting', message: `${UNAVAILABLE} Trying again…` });
          timer = setTimeout(connect, delay);
        }
      }
    };

    function connect() {
      timer = null;
      if (cancelled) return;
      const token = getAccessToken();
      if (!token) {
        // A request already found the session gone; only a refresh can tell for sure.
        onClose(1008, 'Missing authentication token');
        return;
      }
      let ws: WebSocket;
      try {
        ws = openQuoteSocket(token);
      } catch {
        onClose(1006, ''); // refused before it started (e.g. by the page's CSP): like a drop
        return;
      }
      socket = ws;
      ws.onmessage = (event: MessageEvent) => {
        const message = parseTickerMessage(event.data);
        if (message && socket === ws) onMessage(message);
      };
      ws.onclose = (event: CloseEvent) => {
        if (socket !== ws || cancelled) return;
        socket = null;
        onClose(event.code, event.reason);
      };
    }

    const unsubscribe = onTokenRefreshed((response) => {
      if (socket && socket.readyState === 1) socket.send(renewMessage(response.access_token));
    });
    setState((s) => ({ ...INITIAL, quotes: s.quotes, accounts: s.accounts }));
    connect();

    return () => {
      cancelled = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      const open = socket;
      socket = null;
      open?.close(NORMAL_CLOSURE);
    };
  }, [enabled, generation]);

  /** The trader's "Try again": a fresh connection with a fresh retry budget. */
  const retry = useCallback(() => setGeneration((n) => n + 1), []);

  return { ...state, retry };
}
