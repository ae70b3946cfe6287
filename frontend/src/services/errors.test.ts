import { describe, expect, it } from 'vitest';
import { messageForCode, plainFieldMessage } from './errors';

describe('plainFieldMessage', () => {
  it('never shows a validator’s pattern, type or prefix', () => {
    expect(plainFieldMessage('string_pattern_mismatch', "String should match pattern '^\\+?[0-9 ()-]{4,32}$'")).toBe(
      'This is not in the expected format.',
    );
    expect(plainFieldMessage('string_too_long', 'String should have at most 64 characters')).toBe(
      'Use at most 64 characters.',
    );
    expect(plainFieldMessage('string_too_short', 'String should have at least 1 character')).toBe(
      'Use at least 1 character.',
    );
    expect(plainFieldMessage('missing', 'Field required')).toBe('This field is required.');
    expect(plainFieldMessage('value_error', 'Value error, Use a phone number with 6 to 15 digits.')).toBe(
      'Use a phone number with 6 to 15 digits.',
    );
    expect(
      plainFieldMessage('value_error', 'value is not a valid email address: An email address must have an @-sign.'),
    ).toBe('Enter a valid email address, like name@example.com.');
    expect(plainFieldMessage('model_attributes_type', 'Input should be a valid dictionary')).toBe(
      'This value is not accepted.',
    );
  });
});

describe('messageForCode', () => {
  it('has a sentence for an unknown code that names neither the code nor the status', () => {
    expect(messageForCode('gateway_exploded', 502)).toBe('Something went wrong on our side. Please try again.');
    expect(messageForCode('gateway_exploded', 409)).not.toMatch(/gateway|409/);
  });
});
