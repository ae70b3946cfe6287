import { useQuery, type QueryKey } from '@tanstack/react-query';
import { useEffect } from 'react';
import { toPlatformProblem } from '../../services/platformApi';

/**
 * A read from one of the platform's services (backend, alerts) through TanStack Query. No
 * silent retry: the card says at once which service is down and offers "Try again". A session
 * that a refresh could not cure is handed to the page (`onSessionEnded`), not shown as an error.
 */
export function usePlatformQuery<T>(
  queryKey: QueryKey,
  queryFn: () => Promise<T>,
  service: string,
  onSessionEnded: () => void,
) {
  const query = useQuery({ queryKey, queryFn, retry: false });
  const problem = query.isError ? toPlatformProblem(query.error, service) : null;
  const ended = problem?.kind === 'session_ended';
  useEffect(() => {
    if (ended) onSessionEnded();
  }, [ended, onSessionEnded]);
  return { query, message: problem && problem.kind !== 'session_ended' ? problem.message : null };
}
