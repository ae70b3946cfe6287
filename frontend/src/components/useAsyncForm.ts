import { useCallback, useEffect, useRef, useState, type ChangeEvent } from 'react';
import { formatWait, toApiProblem, type ApiProblem } from '../services/errors';
import { useCountdown } from './useCountdown';

export type FieldErrors = Record<string, string>;

interface RunOptions {
  /** Client-side checks; a non-empty result stops the submit. */
  validate?: () => Record<string, string | undefined>;
  /** An error `code` that belongs to one field (e.g. `invalid_mfa_code` → `code`). */
  codeToField?: Record<string, string>;
  /** Plain words for an error `code`, instead of the API's sentence. */
  messages?: Record<string, string>;
}

export type RunResult<T> = { ok: true; value: T } | { ok: false; problem: ApiProblem | null };

type Values = Record<string, string>;

interface FieldOptions {
  /** Runs after the value is stored and the field's error cleared (e.g. hide a "saved" notice). */
  onChange?: (value: string) => void;
}

/** The props {@link useAsyncForm}'s `field(name)` gives a `TextField`, `PasswordField` or `SelectField`. */
export interface FieldProps {
  name: string;
  value: string;
  error: string | undefined;
  onChange(event: ChangeEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>): void;
}

/**
 * Submit state for a form: disables while a request runs, keeps the API's problem and field
 * errors, and moves focus to the first invalid field (or the alert) after a failed submit.
 *
 * With `initialValues` it also holds the fields' text: `field(name)` returns the props that wire
 * an input to its value and its error (typing clears that field's error), so a page writes
 * `<TextField label="Email" {...form.field('email')} />`.
 */
export function useAsyncForm<V extends Values = Record<never, string>>(initialValues?: V) {
  const [values, setValues] = useState<V>(() => initialValues ?? ({} as V));
  const [submitting, setSubmitting] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [focusRequest, setFocusRequest] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  const alertRef = useRef<HTMLDivElement>(null);
  // A 429: the form refuses to send again until Retry-After has passed, counting down.
  const [limitedUntil, setLimitedUntil] = useState<number | null>(null);
  const waiting = useCountdown(limitedUntil);
  const limitedRef = useRef<number | null>(null);

  useEffect(() => {
    if (!focusRequest) return;
    const invalid = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    (invalid ?? alertRef.current)?.focus();
  }, [focusRequest]);

  useEffect(() => {
    // The wait is over: the "try again in …" sentence no longer holds.
    if (limitedUntil !== null && waiting === 0) {
      limitedRef.current = null;
      setLimitedUntil(null);
      setProblem((current) => (current?.status === 429 ? null : current));
    }
  }, [limitedUntil, waiting]);

  const run = useCallback(async <T>(fn: () => Promise<T>, options: RunOptions = {}): Promise<RunResult<T>> => {
    if (limitedRef.current !== null && limitedRef.current > Date.now()) {
      setFocusRequest((n) => n + 1);
      return { ok: false, problem: null };
    }
    const clientErrors: FieldErrors = {};
    for (const [name, message] of Object.entries(options.validate?.() ?? {})) {
      if (message) clientErrors[name] = message;
    }
    if (Object.keys(clientErrors).length > 0) {
      setProblem(null);
      setFieldErrors(clientErrors);
      setFocusRequest((n) => n + 1);
      return { ok: false, problem: null };
    }
    setSubmitting(true);
    setProblem(null);
    setFieldErrors({});
    try {
      const value = await fn();
      return { ok: true, value };
    } catch (error) {
      const raw = toApiProblem(error);
      const apiProblem = { ...raw, message: options.messages?.[raw.code] ?? raw.message };
      const errors = { ...apiProblem.fieldErrors };
      const field = options.codeToField?.[apiProblem.code];
      if (field && !errors[field]) errors[field] = apiProblem.message;
      if (apiProblem.status === 429 && apiProblem.retryAfter) {
        limitedRef.current = Date.now() + apiProblem.retryAfter * 1000;
        setLimitedUntil(limitedRef.current);
      }
      setProblem(apiProblem);
      setFieldErrors(errors);
      setFocusRequest((n) => n + 1);
      return { ok: false, problem: apiProblem };
    } finally {
      setSubmitting(false);
    }
  }, []);

  const clearField = useCallback((name: string) => {
    setFieldErrors((current) => {
      if (!(name in current)) return current;
      const next = { ...current };
      delete next[name];
      return next;
    });
  }, []);

  const reset = useCallback(() => {
    setProblem(null);
    setFieldErrors({});
  }, []);

  const setValue = useCallback((name: keyof V & string, value: string) => {
    setValues((current) => ({ ...current, [name]: value }));
  }, []);

  const field = (name: keyof V & string, options: FieldOptions = {}): FieldProps => ({
    name,
    value: values[name] ?? '',
    error: fieldErrors[name],
    onChange: (event) => {
      setValue(name, event.target.value);
      clearField(name);
      options.onChange?.(event.target.value);
    },
  });

  /** The problem's sentence already stands next to a field: the alert would only repeat it. */
  const problemInline = !!problem && Object.values(fieldErrors).includes(problem.message);
  // While rate limited, the sentence counts down with the clock.
  const shownProblem =
    problem && problem.status === 429 && waiting > 0
      ? { ...problem, message: `Too many attempts. Try again in ${formatWait(waiting)}.` }
      : problem;

  return {
    values,
    setValue,
    setValues,
    field,
    submitting,
    /** Seconds until a rate-limited form may send again (0: it may). */
    waiting,
    problem: shownProblem,
    problemInline,
    fieldErrors,
    run,
    clearField,
    reset,
    setProblem,
    formRef,
    alertRef,
  };
}

/** What {@link FormAlert} and shared field groups read of a form, whatever its values. */
export type FormStatus = Pick<
  ReturnType<typeof useAsyncForm>,
  'problem' | 'problemInline' | 'fieldErrors' | 'alertRef' | 'clearField' | 'reset'
>;
