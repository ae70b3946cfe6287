/**
 * The platform's own services, called from the browser with the same in-memory access token
 * and the same 401 → refresh → retry logic as the User Service (`apiClient`).
 *
 * They live on other origins: requests carry only `Authorization: Bearer …` (never the refresh
 * cookie, `withCredentials: false`), and an incurable 401 is reported to the Platform page
 * (`reportSessionEnd`) so it can say what happened instead of leaving at once.
 */
import { isAxiosError } from 'axios';
import { apiClient, isSessionEndedError } from './apiClient';
import { toApiProblem } from './errors';
import { platformConfig } from './platformConfig';

export interface Position {
  symbol: string;
  quantity: number;
  average_price: number;
  last_price: number;
  pnl: number;
}

export interface PositionsResponse {
  auth_method: string;
  user_id: string;
  positions: Position[];
}

export type AlertCondition = 'above' | 'below';

export interface PriceAlert {
  alert_id: string;
  symbol: string;
  condition: AlertCondition;
  price: number;
  note?: string | null;
  /** Only when the alert service supports pausing alerts. */
  active?: boolean;
  created_at: string;
  updated_at?: string;
}

export interface AlertCreate {
  symbol: string;
  condition: AlertCondition;
  price: number;
  note?: string;
}

export type AlertChange = Partial<AlertCreate> & { active?: boolean };

interface AlertPage {
  items: PriceAlert[];
  next_cursor: string | null;
}

const crossOrigin = { withCredentials: false, reportSessionEnd: true } as const;
const alertPath = (alertId: string) => `${platformConfig.alertsUrl}/alerts/${encodeURIComponent(alertId)}`;
/** Enough for any trader's alerts; the page does not paginate. */
const MAX_ALERT_PAGES = 10;

export const positionsApi = {
  async list(): Promise<Position[]> {
    const { data } = await apiClient.get<PositionsResponse>(`${platformConfig.backendUrl}/api/positions`, crossOrigin);
    return data.positions;
  },
};

export const alertsApi = {
  async list(): Promise<PriceAlert[]> {
    const items: PriceAlert[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < MAX_ALERT_PAGES; page += 1) {
      const params: Record<string, string | number> = { limit: 100 };
      if (cursor) params.cursor = cursor;
      const response = await apiClient.get<AlertPage>(`${platformConfig.alertsUrl}/alerts`, { ...crossOrigin, params });
      items.push(...response.data.items);
      cursor = response.data.next_cursor;
      if (!cursor) break;
    }
    return items;
  },

  async create(body: AlertCreate): Promise<PriceAlert> {
    const { data } = await apiClient.post<PriceAlert>(`${platformConfig.alertsUrl}/alerts`, body, crossOrigin);
    return data;
  },

  async update(alertId: string, change: AlertChange): Promise<PriceAlert> {
    const { data } = await apiClient.patch<PriceAlert>(alertPath(alertId), change, crossOrigin);
    return data;
  },

  async remove(alertId: string): Promise<void> {
    await apiClient.delete(alertPath(alertId), crossOrigin);
  },
};

export type OrderSide = 'BUY' | 'SELL';

export interface OrderCreate {
  symbol: string;
  side: OrderSide;
  quantity: number;
}

export interface PlacedOrder extends OrderCreate {
  order_id: string;
  account_id: string;
  status: string;
  placed_at: string;
}

/**
 * Orders through the backend: a trading action, so it may answer `step_up_required`; the
 * client then asks for a code, steps up and retries once (`apiClient`).
 */
export const ordersApi = {
  async place(accountId: string, body: OrderCreate): Promise<PlacedOrder> {
    const { data } = await apiClient.post<PlacedOrder>(
      `${platformConfig.backendUrl}/api/trading-accounts/${encodeURIComponent(accountId)}/orders`,
      body,
      crossOrigin,
    );
    return data;
  },
};

/** What a failed call to one of the platform's services means for the trader. */
export type PlatformProblem =
  | { kind: 'session_ended' }
  | { kind: 'unavailable'; message: string }
  /** The alert is not there (deleted elsewhere, or never the trader's). */
  | { kind: 'gone'; message: string }
  | { kind: 'failed'; message: string; fieldErrors: Record<string, string> };

const FIELD_MESSAGES: Record<string, string> = {
  symbol: 'Enter an instrument like NSE:INFY (capital letters, digits and : & _ . -).',
  condition: 'Choose whether the price should go above or below.',
  price: 'Enter a price above 0.',
  note: 'Keep the note to 200 characters or fewer.',
};

/**
 * Turns an error of `service` ("Positions", "Alerts") into plain words: a service that cannot
 * be reached or fails says so by name; API codes never reach the screen.
 */
export function toPlatformProblem(error: unknown, service: string): PlatformProblem {
  if (isSessionEndedError(error)) return { kind: 'session_ended' };
  const unavailable = { kind: 'unavailable', message: `${service} are unavailable right now.` } as const;
  if (!isAxiosError(error) || !error.response) return unavailable;
  const { status } = error.response;
  if (status >= 500 || status === 429) return unavailable;
  const problem = toApiProblem(error);
  if (status === 403) {
    return {
      kind: 'failed',
      message: `Your account is not allowed to do this with ${service.toLowerCase()}.`,
      fieldErrors: {},
    };
  }
  if (status === 404) {
    return { kind: 'gone', message: 'That alert no longer exists. The list has been updated.' };
  }
  if (status === 422) {
    const fieldErrors: Record<string, string> = {};
    for (const name of Object.keys(problem.fieldErrors)) {
      fieldErrors[name] = FIELD_MESSAGES[name] ?? 'Check this value.';
    }
    return { kind: 'failed', message: 'Some details need your attention.', fieldErrors };
  }
  return { kind: 'failed', message: 'That did not work. Please try again.', fieldErrors: {} };
}
