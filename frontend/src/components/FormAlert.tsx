import type { ReactNode } from 'react';
import { Alert } from './Alert';
import type { FormStatus } from './useAsyncForm';

/**
 * The form's error region: the API's `detail`, unless the same sentence already stands next to
 * the field it is about (then the field error is what focus lands on and what is read out).
 */
export function FormAlert({ form, children }: { form: FormStatus; children?: ReactNode }) {
  if (!form.problem || (form.problemInline && !children)) return null;
  return (
    <Alert ref={form.alertRef} tone="error">
      {form.problem.message}
      {children}
    </Alert>
  );
}
