/**
 * The password rules of docs/api.md §5, mirrored on the client for live feedback.
 * The API stays the judge: its `weak_password` errors are shown as they come.
 */
import type { ZxcvbnFactory } from '@zxcvbn-ts/core';

export const MIN_PASSWORD_LENGTH = 12;
export const MIN_STRENGTH_SCORE = 2;

export type PolicyRuleId = 'length' | 'lower' | 'upper' | 'digit' | 'special' | 'common' | 'strength';

export interface PolicyCheck {
  id: PolicyRuleId;
  label: string;
  /** `null` while the strength estimator is still loading. */
  met: boolean | null;
}

export interface PolicyResult {
  checks: PolicyCheck[];
  ok: boolean;
  score: number | null;
}

/** A short list for the moment before the dictionary-backed estimator has loaded. */
const COMMON_PASSWORDS = new Set([
  'password',
  'password1',
  'password123',
  'passw0rd',
  'p@ssw0rd',
  'p@ssword',
  '123456',
  '12345678',
  '123456789',
  '1234567890',
  'qwerty',
  'qwerty123',
  'qwertyuiop',
  'iloveyou',
  'admin',
  'admin123',
  'welcome',
  'welcome1',
  'welcome123',
  'letmein',
  'monkey',
  'dragon',
  'football',
  'baseball',
  'sunshine',
  'princess',
  'abc123',
  'trustno1',
  'superman',
  'master',
  'changeme',
  'secret',
  'password!',
  'password1!',
  'password123!',
  'p@ssw0rd123',
  'p@ssw0rd!',
  'qwerty123!',
  'welcome123!',
  'passwordpassword',
  'letmein123',
  'administrator',
]);

export function normalisePassword(password: string): string {
  return password.normalize('NFKC');
}

function isCommon(password: string): boolean {
  const lower = password.toLowerCase();
  return COMMON_PASSWORDS.has(lower) || COMMON_PASSWORDS.has(lower.replace(/[^a-z0-9@!]/g, ''));
}

type Estimator = Pick<ZxcvbnFactory, 'check'>;
let estimator: Estimator | null = null;
let loading: Promise<Estimator> | null = null;

/** Loads zxcvbn and its dictionaries in a separate chunk, only where a password is chosen. */
export function loadStrengthEstimator(): Promise<Estimator> {
  if (estimator) return Promise.resolve(estimator);
  if (!loading) {
    // The common-password list, keyboard graphs and English common words: close to the service's
    // zxcvbn at a third of the size of the full English pack (names and Wikipedia left out).
    loading = Promise.all([
      import('@zxcvbn-ts/core'),
      import('@zxcvbn-ts/language-common'),
      import('@zxcvbn-ts/language-en/dist/commonWords.json.mjs'),
    ]).then(([core, common, commonWords]) => {
      estimator = new core.ZxcvbnFactory({
        graphs: common.adjacencyGraphs,
        dictionary: { ...common.dictionary, 'commonWords-en': commonWords.default },
      });
      return estimator;
    });
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

export function strengthEstimatorIfLoaded(): Estimator | null {
  return estimator;
}

export interface StrengthEstimate {
  score: number;
  /** The whole password is one entry of a common-password list. */
  common: boolean;
}

export function estimateStrength(est: Estimator, password: string, userInputs: string[] = []): StrengthEstimate {
  // The Python zxcvbn scores the first 72 characters; so do we.
  const sample = password.slice(0, 72);
  // Like the service: the user's name and email (and the email's parts) count against them.
  const inputs = userInputs
    .filter(Boolean)
    .flatMap((value) => [value, ...value.split('@')])
    .filter(Boolean);
  const result = est.check(sample, inputs);
  const only = result.sequence.length === 1 ? result.sequence[0] : undefined;
  const common =
    !!only &&
    only.pattern === 'dictionary' &&
    'dictionaryName' in only &&
    String(only.dictionaryName).startsWith('passwords');
  return { score: result.score, common };
}

export function checkPassword(password: string, estimate: StrengthEstimate | null): PolicyResult {
  const pw = normalisePassword(password);
  const length = [...pw].length;
  const checks: PolicyCheck[] = [
    { id: 'length', label: `At least ${MIN_PASSWORD_LENGTH} characters`, met: length >= MIN_PASSWORD_LENGTH },
    { id: 'lower', label: 'A lower-case letter', met: /\p{Ll}/u.test(pw) },
    { id: 'upper', label: 'An upper-case letter', met: /\p{Lu}/u.test(pw) },
    { id: 'digit', label: 'A digit', met: /\p{Nd}/u.test(pw) },
    { id: 'special', label: 'A symbol (e.g. ! # % -)', met: /[^\p{L}\p{N}\s]/u.test(pw) },
    {
      id: 'common',
      label: 'Not a commonly used password',
      met: pw.length === 0 ? false : !(isCommon(pw) || (estimate?.common ?? false)),
    },
    {
      id: 'strength',
      label: 'Hard to guess',
      met: pw.length === 0 ? false : estimate ? estimate.score >= MIN_STRENGTH_SCORE : null,
    },
  ];
  return { checks, ok: checks.every((check) => check.met === true), score: estimate?.score ?? null };
}
