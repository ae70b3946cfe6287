/**
 * The SPA's one data-fetching layer: TanStack Query over the `*Api.ts` modules.
 *
 * - No automatic retry of an answer: a 4xx is the service's verdict, and a 5xx shows the page's
 *   error copy with a Retry button instead of hammering a busy service. Only a request that got
 *   no answer at all (network blip, timeout) is tried once more, a second later.
 * - No refetch when the window regains focus: pages load when they mount and after the
 *   mutations that change them (`invalidateQueries`).
 * - Answers are kept only while a page shows them (`gcTime` 0): opening a page always loads it
 *   afresh, as the console did before. `AuthContext` clears the cache when a session ends, so
 *   one person's data never reaches the next one signed in on this browser.
 * - A 401 is still cured (or the session ended) by the API client's refresh, below this layer.
 */
import { QueryClient } from '@tanstack/react-query';
import { isAxiosError } from 'axios';

const NETWORK_RETRY_DELAY_MS = 1000;

function gotNoAnswer(error: unknown): boolean {
  return isAxiosError(error) && !error.response;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (failures, error) => failures < 1 && gotNoAnswer(error),
        retryDelay: NETWORK_RETRY_DELAY_MS,
        refetchOnWindowFocus: false,
        gcTime: 0,
      },
      mutations: { retry: false },
    },
  });
}
