import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { createPortal } from 'react-dom';
import { Link } from 'react-router';
import { useAuth } from '../contexts/AuthContext';
import { setStepUpHandler } from '../services/apiClient';
import { authApi } from '../services/authApi';
import { toApiProblem } from '../services/errors';
import { Alert } from './Alert';
import { Button } from './Button';
import { TextField } from './Field';
import { keepFocusInside } from './focusTrap';
import { PasskeyStepUp } from './PasskeyStepUp';

type Pending = (token: string | null) => void;

/**
 * The step-up prompt of every action that answers `step_up_required` (trading needs a second
 * factor proven in the last five minutes). `apiClient` calls the handler registered here; the
 * dialog asks for a code, calls `POST /v1/auth/step-up`, swaps the new access token into the
 * session (`AuthContext`) and lets the client retry the action once. Closing it (Cancel,
 * Escape) leaves the action failed with nothing retried.
 *
 * Accessible: a labelled modal dialog, focus on the code field, Tab kept inside, Escape closes,
 * focus returns to what was focused before; errors are announced in an alert region.
 */
export function StepUpDialogHost() {
  const { user, adoptAccessToken } = useAuth();
  const [open, setOpen] = useState(false);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const pending = useRef<Pending | null>(null);
  const dialogRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const closeRef = useRef<HTMLButtonElement>(null);
  const previousFocus = useRef<HTMLElement | null>(null);
  const titleId = useId();
  const bodyId = useId();
  const canStepUp = Boolean(user?.mfa_enabled);

  const finish = useCallback((token: string | null) => {
    pending.current?.(token);
    pending.current = null;
    setOpen(false);
    setCode('');
    setError(null);
    previousFocus.current?.focus?.();
  }, []);

  useEffect(() => {
    setStepUpHandler(
      () =>
        new Promise<string | null>((resolve) => {
          pending.current?.(null);
          pending.current = resolve;
          previousFocus.current = document.activeElement as HTMLElement | null;
          setOpen(true);
        }),
    );
    return () => {
      setStepUpHandler(null);
      pending.current?.(null);
      pending.current = null;
    };
  }, []);

  useEffect(() => {
    if (!open) return;
    (canStepUp ? inputRef.current : closeRef.current)?.focus();
  }, [open, canStepUp]);

  if (!open) return null;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const value = code.replace(/\s+/g, '');
    if (!value) {
      setError('Enter the 6-digit code from your authenticator app, or a backup code.');
      inputRef.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const token = await authApi.stepUp(value);
      adoptAccessToken(token);
      finish(token.access_token);
    } catch (err) {
      const problem = toApiProblem(err);
      setError(
        problem.code === 'invalid_mfa_code'
          ? 'That code did not work. Check your authenticator app and try again.'
          : problem.message,
      );
      setCode('');
      inputRef.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === 'Escape' && !busy) {
      event.stopPropagation();
      finish(null);
      return;
    }
    keepFocusInside(event, dialogRef.current);
  };

  return createPortal(
    <div className="dialog-backdrop">
      <div
        ref={dialogRef}
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={bodyId}
        onKeyDown={onKeyDown}
      >
        <h2 id={titleId} className="dialog__title">
          Confirm it’s you
        </h2>
        {canStepUp ? (
          <form onSubmit={submit} noValidate>
            <div id={bodyId} className="dialog__body">
              <p>
                Trading needs a fresh code from your authenticator app. Enter it to continue; we will then finish what
                you asked.
              </p>
              {error ? <Alert tone="error">{error}</Alert> : null}
              <PasskeyStepUp
                onDone={(token) => {
                  adoptAccessToken(token);
                  finish(token.access_token);
                }}
                onError={setError}
              />
              <TextField
                ref={inputRef}
                label="Authenticator or backup code"
                name="step-up-code"
                inputMode="numeric"
                autoComplete="one-time-code"
                className="input--code"
                value={code}
                onChange={(e) => {
                  setCode(e.target.value);
                  setError(null);
                }}
              />
            </div>
            <div className="dialog__actions">
              <Button variant="secondary" onClick={() => finish(null)} disabled={busy}>
                Cancel
              </Button>
              <Button type="submit" loading={busy}>
                Confirm
              </Button>
            </div>
          </form>
        ) : (
          <>
            <div id={bodyId} className="dialog__body">
              <p>
                Trading needs two-factor authentication. Turn it on in{' '}
                <Link to="/security" onClick={() => finish(null)}>
                  Security
                </Link>
                , then try again.
              </p>
            </div>
            <div className="dialog__actions">
              <Button ref={closeRef} variant="secondary" onClick={() => finish(null)}>
                Close
              </Button>
            </div>
          </>
        )}
      </div>
    </div>,
    document.body,
  );
}
