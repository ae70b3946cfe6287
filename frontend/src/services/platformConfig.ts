/**
 * Where the platform's services are, fixed at build time by Vite env vars (frontend/README.md).
 * The defaults are the ports `make demo` uses on this machine.
 */
function baseUrl(value: string | undefined, fallback: string): string {
  return (value?.trim() || fallback).replace(/\/+$/, '');
}

export const platformConfig = {
  /** The backend: `GET /api/positions`. */
  backendUrl: baseUrl(import.meta.env.VITE_BACKEND_URL, 'http://127.0.0.1:8081'),
  /** The ticker service: `WS /ws/quotes`. */
  tickerUrl: baseUrl(import.meta.env.VITE_TICKER_URL, 'ws://127.0.0.1:8080'),
  /** The alert service: `/alerts`. */
  alertsUrl: baseUrl(import.meta.env.VITE_ALERTS_URL, 'http://127.0.0.1:8082'),
};
