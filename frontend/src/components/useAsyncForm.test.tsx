import { act, renderHook } from '@testing-library/react';
import { AxiosError, AxiosHeaders, type AxiosResponse } from 'axios';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useAsyncForm } from './useAsyncForm';

function rateLimited(seconds: number): AxiosError {
  const response = {
    status: 429,
    statusText: 'Too Many Requests',
    data: { detail: 'Rate limit exceeded: 5 per 15 minute', code: 'rate_limited' },
    headers: { 'retry-after': String(seconds) },
    config: { headers: new AxiosHeaders() },
  } as AxiosResponse;
  return new AxiosError('429', 'ERR_BAD_REQUEST', undefined, undefined, response);
}

describe('useAsyncForm and a rate limit', () => {
  beforeEach(() => vi.useFakeTimers({ shouldAdvanceTime: false }));
  afterEach(() => vi.useRealTimers());

  it('counts down, refuses to send while limited, and clears the sentence when the wait is over', async () => {
    const { result } = renderHook(() => useAsyncForm({ email: '' }));
    const send = vi.fn().mockRejectedValue(rateLimited(3));
    await act(async () => {
      await result.current.run(send);
    });
    expect(result.current.waiting).toBe(3);
    expect(result.current.problem?.message).toBe('Too many attempts. Try again in 3 seconds.');
    expect(result.current.problem?.message).not.toMatch(/per 15 minute/);

    await act(async () => {
      vi.advanceTimersByTime(1000);
    });
    expect(result.current.waiting).toBe(2);
    expect(result.current.problem?.message).toBe('Too many attempts. Try again in 2 seconds.');

    await act(async () => {
      await result.current.run(send);
    });
    expect(send).toHaveBeenCalledTimes(1);

    await act(async () => {
      vi.advanceTimersByTime(2000);
    });
    expect(result.current.waiting).toBe(0);
    expect(result.current.problem).toBeNull();
    await act(async () => {
      await result.current.run(send);
    });
    expect(send).toHaveBeenCalledTimes(2);
  });
});
