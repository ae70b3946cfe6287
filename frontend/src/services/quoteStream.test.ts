import { describe, expect, it } from 'vitest';
import { classifyClose, describeAccountError } from './quoteStream';

describe('classifyClose', () => {
  it('reads the SDK’s 1008 reasons', () => {
    expect(classifyClose(1008, 'Session revoked')).toEqual({ kind: 'session_revoked' });
    expect(classifyClose(1008, 'User disabled')).toEqual({ kind: 'user_disabled' });
    for (const reason of [
      'Authentication token expired',
      'Invalid authentication token',
      'Missing authentication token',
    ]) {
      expect(classifyClose(1008, reason)).toEqual({ kind: 'token_rejected' });
    }
  });

  it('turns the ticker’s account reasons into plain words', () => {
    const verdict = classifyClose(1008, 'Trading account session expired');
    expect(verdict).toEqual({
      kind: 'account_ended',
      message: expect.stringContaining('Kite login for today has expired'),
    });
    expect(classifyClose(1008, 'Something new')).toEqual({
      kind: 'account_ended',
      message: 'The quote service stopped the stream.',
    });
  });

  it('retries what is not a policy decision: drops, restarts, an auth service that is down (1013)', () => {
    for (const code of [1001, 1006, 1011, 1013]) expect(classifyClose(code, '')).toEqual({ kind: 'dropped' });
  });

  it('never shows an account error code', () => {
    expect(describeAccountError('quote_feed_failed')).not.toContain('_');
    expect(describeAccountError('brand_new_code')).toBe('Quotes for this account are unavailable right now.');
  });
});
