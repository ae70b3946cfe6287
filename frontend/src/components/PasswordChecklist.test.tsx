import { screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { checkPassword, estimateStrength, loadStrengthEstimator } from '../services/passwordPolicy';
import { renderApp } from '../test/render';

function met(result: ReturnType<typeof checkPassword>) {
  return Object.fromEntries(result.checks.map((check) => [check.id, check.met]));
}

describe('password policy', () => {
  it('checks length, character classes and common passwords', () => {
    expect(met(checkPassword('short', null))).toMatchObject({
      length: false,
      lower: true,
      upper: false,
      digit: false,
      special: false,
      strength: null,
    });
    expect(met(checkPassword('Password123!', null))).toMatchObject({
      length: true,
      upper: true,
      digit: true,
      special: true,
      common: false,
    });
    expect(checkPassword('Tangerine-Orbit-42', { score: 4, common: false }).ok).toBe(true);
    expect(checkPassword('Tangerine-Orbit-42', { score: 1, common: false }).ok).toBe(false);
  });

  it('counts characters after NFKC normalisation and accepts any script', () => {
    const result = met(checkPassword('Ünïcødé-Pässwörd-٣', { score: 4, common: false }));
    expect(result).toMatchObject({ length: true, lower: true, upper: true, digit: true, special: true });
  });

  it('scores with zxcvbn and flags passwords from the common list', async () => {
    const estimator = await loadStrengthEstimator();
    expect(estimateStrength(estimator, 'password').common).toBe(true);
    expect(estimateStrength(estimator, 'aaaaaaaaaaaa').score).toBeLessThan(2);
    expect(estimateStrength(estimator, 'Tangerine-Orbit-42-Kettle').score).toBeGreaterThanOrEqual(2);
  });
});

describe('PasswordChecklist on the register page', () => {
  it('updates each rule live as the password is typed', async () => {
    const { user } = renderApp('/register');
    const input = await screen.findByLabelText('Password');
    const rule = (id: string) => document.querySelector(`[data-rule="${id}"]`)!;

    await user.type(input, 'abc');
    expect(rule('lower')).toHaveClass('rule--met');
    expect(rule('upper')).not.toHaveClass('rule--met');
    expect(rule('length')).not.toHaveClass('rule--met');

    await user.type(input, 'DEF-12345-xyz');
    expect(rule('upper')).toHaveClass('rule--met');
    expect(rule('digit')).toHaveClass('rule--met');
    expect(rule('special')).toHaveClass('rule--met');
    expect(rule('length')).toHaveClass('rule--met');
    await waitFor(() => expect(rule('strength')).toHaveClass('rule--met'), { timeout: 5000 });
    expect(screen.getByText(/Your password meets every requirement\./)).toBeInTheDocument();
    expect(input).toHaveAccessibleDescription(/Password requirements|meets every requirement/);
  });
});
