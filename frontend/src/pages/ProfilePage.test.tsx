import { describe, expect, it } from 'vitest';
import { isLocale, isPhone } from './ProfilePage';

describe('profile validation', () => {
  it('accepts the phone numbers the service accepts and says no to the rest', () => {
    expect(isPhone('+91 98765 43210')).toBe(true);
    expect(isPhone('(022) 2345-6789')).toBe(true);
    expect(isPhone('12345')).toBe(false); // too few digits to be a number
    expect(isPhone('+91 98765 abc')).toBe(false);
  });

  it('accepts real locale tags only', () => {
    expect(isLocale('en-IN')).toBe(true);
    expect(isLocale('hi_IN')).toBe(true);
    expect(isLocale('english')).toBe(true); // a well-formed tag; the list offers the common ones
    expect(isLocale('e')).toBe(false);
    expect(isLocale('en-IN-')).toBe(false);
    expect(isLocale('en IN')).toBe(false);
  });
});
