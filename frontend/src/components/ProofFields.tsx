import { useState, type ReactNode } from 'react';
import { PasswordField, TextField } from './Field';

export type ProofMethod = 'password' | 'code';

interface ProofFieldsProps {
  /** Radio group name and field name prefix (unique per page). */
  name: string;
  method: ProofMethod;
  /** Offer the choice between password and code (only when two-factor authentication is on). */
  choose: boolean;
  choiceLabels: Record<ProofMethod, string>;
  value: string;
  error: string | undefined;
  codeLabel: string;
  passwordLabel: string;
  onMethodChange(method: ProofMethod): void;
  onValueChange(value: string): void;
  /** Rendered between the choice and the field (the form's alert). */
  children?: ReactNode;
}

/**
 * "Confirm with your password or a code": a segmented choice and the matching field, as the
 * sensitive actions of the Security page ask for it (turning MFA off, freezing the account).
 */
export function ProofFields({
  name,
  method,
  choose,
  choiceLabels,
  value,
  error,
  codeLabel,
  passwordLabel,
  onMethodChange,
  onValueChange,
  children,
}: ProofFieldsProps) {
  return (
    <>
      {choose ? (
        <fieldset className="segmented">
          <legend className="visually-hidden">Confirm with</legend>
          {(['code', 'password'] as const).map((option) => (
            <label key={option}>
              <input
                type="radio"
                name={`${name}-method`}
                checked={method === option}
                onChange={() => onMethodChange(option)}
              />
              <span>{choiceLabels[option]}</span>
            </label>
          ))}
        </fieldset>
      ) : null}
      {children}
      {method === 'code' ? (
        <TextField
          key="code"
          label={codeLabel}
          name={`${name}-code`}
          autoComplete="one-time-code"
          className="input--code"
          value={value}
          onChange={(e) => onValueChange(e.target.value)}
          error={error}
        />
      ) : (
        <PasswordField
          key="password"
          label={passwordLabel}
          name={`${name}-password`}
          autoComplete="current-password"
          value={value}
          onChange={(e) => onValueChange(e.target.value)}
          error={error}
        />
      )}
    </>
  );
}

interface FormHandle {
  fieldErrors: Record<string, string | undefined>;
  clearField(name: string): void;
  reset(): void;
}

/**
 * The state behind {@link ProofFields}: the chosen method, the typed value, the request body
 * (`{code}` without spaces, or `{password}`), the "empty" check, and the field wiring.
 */
export function useProof(form: FormHandle, initial: ProofMethod) {
  const [method, setMethod] = useState<ProofMethod>(initial);
  const [value, setValue] = useState('');
  const trimmed = method === 'code' ? value.replace(/\s+/g, '') : value;
  return {
    method,
    body: method === 'code' ? { code: trimmed } : { password: trimmed },
    validate: (): Record<string, string> =>
      trimmed
        ? {}
        : { value: method === 'code' ? 'Enter a code from your app or a backup code.' : 'Enter your password.' },
    clear: () => setValue(''),
    isEmpty: !value.trim(),
    fieldProps: {
      method,
      value,
      error: form.fieldErrors.value ?? form.fieldErrors[method === 'code' ? 'code' : 'password'],
      onMethodChange: (next: ProofMethod) => {
        setMethod(next);
        setValue('');
        form.reset();
      },
      onValueChange: (next: string) => {
        setValue(next);
        form.clearField('value');
      },
    },
  };
}
