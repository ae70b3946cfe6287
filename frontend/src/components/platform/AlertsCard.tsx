import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import {
  alertsApi,
  toPlatformProblem,
  type AlertCondition,
  type AlertCreate,
  type PriceAlert,
} from '../../services/platformApi';
import { queryKeys } from '../../services/queries';
import { Alert } from '../Alert';
import { Button } from '../Button';
import { SelectField, TextField } from '../Field';
import { Spinner } from '../Spinner';
import { ServiceDown } from './ServiceDown';
import { formatDateTime, formatPrice } from '../format';
import { usePlatformQuery } from './usePlatformQuery';

const SYMBOL = /^[A-Z0-9:&_.-]{1,32}$/;
const EMPTY_FORM = { symbol: '', condition: 'above' as AlertCondition, price: '', note: '' };

export function describeAlert(alert: Pick<PriceAlert, 'symbol' | 'condition' | 'price'>): string {
  return `${alert.symbol} ${alert.condition === 'above' ? 'above' : 'below'} ${formatPrice(alert.price)}`;
}

function validate(form: typeof EMPTY_FORM): Record<string, string> {
  const errors: Record<string, string> = {};
  const symbol = form.symbol.trim().toUpperCase();
  if (!symbol) errors.symbol = 'Enter the instrument, like NSE:INFY.';
  else if (!SYMBOL.test(symbol)) errors.symbol = 'Use capital letters, digits and : & _ . - only, like NSE:INFY.';
  const price = Number(form.price);
  if (!form.price.trim()) errors.price = 'Enter the price to watch for.';
  else if (!Number.isFinite(price) || price <= 0) errors.price = 'Enter a price above 0.';
  else if (price >= 10_000_000) errors.price = 'Enter a price below ₹1,00,00,000.';
  if (form.note.trim().length > 200) errors.note = 'Keep the note to 200 characters or fewer.';
  return errors;
}

interface AlertsCardProps {
  disabled: boolean;
  /** Instruments the trader sees elsewhere on the page, offered as suggestions. */
  symbols: string[];
  onSessionEnded(): void;
}

/** The trader's price alerts on the alert service: list, create, pause/resume, delete. */
export function AlertsCard({ disabled, symbols, onSessionEnded }: AlertsCardProps) {
  const queryClient = useQueryClient();
  const { query, message: loadError } = usePlatformQuery(queryKeys.alerts, alertsApi.list, 'Alerts', onSessionEnded);
  /** The alert service's answer to an action is the new state: write it into the cached list. */
  const setAlerts = (update: (list: PriceAlert[]) => PriceAlert[]) =>
    queryClient.setQueryData<PriceAlert[]>(queryKeys.alerts, (list) => list && update(list));
  const [form, setForm] = useState(EMPTY_FORM);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const formErrorRef = useRef<HTMLDivElement>(null);
  const [focusRequest, setFocusRequest] = useState(0);
  const listId = useId();

  useEffect(() => {
    if (!focusRequest) return;
    const invalid = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    (invalid ?? formErrorRef.current)?.focus();
  }, [focusRequest]);

  const setField = (name: keyof typeof EMPTY_FORM, value: string) => {
    setForm((current) => ({ ...current, [name]: value }));
    setFieldErrors((current) => {
      if (!(name in current)) return current;
      const next = { ...current };
      delete next[name];
      return next;
    });
  };

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setNotice(null);
    setFormError(null);
    const errors = validate(form);
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) {
      setFocusRequest((n) => n + 1);
      return;
    }
    const body: AlertCreate = {
      symbol: form.symbol.trim().toUpperCase(),
      condition: form.condition,
      price: Number(form.price),
    };
    if (form.note.trim()) body.note = form.note.trim();
    setSubmitting(true);
    try {
      const created = await alertsApi.create(body);
      setAlerts((list) => [...list, created]);
      setForm((current) => ({ ...EMPTY_FORM, condition: current.condition }));
      setNotice(`Alert created: ${describeAlert(created)}.`);
    } catch (error) {
      const problem = toPlatformProblem(error, 'Alerts');
      if (problem.kind === 'session_ended') {
        onSessionEnded();
      } else {
        setFormError(problem.kind === 'unavailable' ? `${problem.message} Your alert was not saved.` : problem.message);
        if (problem.kind === 'failed') setFieldErrors(problem.fieldErrors);
        setFocusRequest((n) => n + 1);
      }
    } finally {
      setSubmitting(false);
    }
  };

  /** Runs one alert's action: one at a time, its outcome in the status or error region. */
  const act = async (
    alert: PriceAlert,
    action: () => Promise<{ alerts: (list: PriceAlert[]) => PriceAlert[]; notice: string }>,
  ) => {
    setBusy(alert.alert_id);
    setNotice(null);
    setActionError(null);
    try {
      const done = await action();
      setAlerts(done.alerts);
      setNotice(done.notice);
    } catch (error) {
      const problem = toPlatformProblem(error, 'Alerts');
      if (problem.kind === 'session_ended') onSessionEnded();
      else setActionError(problem.message);
      if (problem.kind === 'gone') void queryClient.invalidateQueries({ queryKey: queryKeys.alerts });
    } finally {
      setBusy(null);
    }
  };

  const toggle = (alert: PriceAlert) =>
    act(alert, async () => {
      const updated = await alertsApi.update(alert.alert_id, { active: !alert.active });
      return {
        alerts: (list) => list.map((a) => (a.alert_id === updated.alert_id ? updated : a)),
        notice: `${updated.active ? 'Resumed' : 'Paused'} the alert ${describeAlert(updated)}.`,
      };
    });

  const remove = (alert: PriceAlert) =>
    act(alert, async () => {
      await alertsApi.remove(alert.alert_id);
      return {
        alerts: (list) => list.filter((a) => a.alert_id !== alert.alert_id),
        notice: `Deleted the alert ${describeAlert(alert)}.`,
      };
    });

  const alerts = query.data ?? [];
  // Pausing needs an alert service that stores `active`; older ones do not, so no switch then.
  const canPause = alerts.some((alert) => typeof alert.active === 'boolean');

  return (
    <section className="card platform-card" aria-labelledby="alerts-heading">
      <div className="card__header">
        <h2 id="alerts-heading" className="card__title">
          Price alerts
        </h2>
      </div>

      <form
        ref={formRef}
        className="form alert-form"
        aria-label="New price alert"
        noValidate
        onSubmit={(e) => void create(e)}
      >
        {formError ? (
          <Alert ref={formErrorRef} tone="error">
            {formError}
          </Alert>
        ) : null}
        <div className="alert-form__grid">
          <TextField
            label="Instrument"
            name="symbol"
            value={form.symbol}
            onChange={(e) => setField('symbol', e.target.value)}
            error={fieldErrors.symbol}
            hint="Exchange and symbol, like NSE:INFY"
            list={`${listId}-symbols`}
            autoCapitalize="characters"
            autoComplete="off"
            spellCheck={false}
            disabled={disabled}
          />
          <SelectField
            label="When the price goes"
            name="condition"
            value={form.condition}
            onChange={(e) => setField('condition', e.target.value)}
            error={fieldErrors.condition}
            disabled={disabled}
          >
            <option value="above">Above</option>
            <option value="below">Below</option>
          </SelectField>
          <TextField
            label="Price (₹)"
            name="price"
            type="number"
            inputMode="decimal"
            min="0.05"
            step="0.05"
            value={form.price}
            onChange={(e) => setField('price', e.target.value)}
            error={fieldErrors.price}
            disabled={disabled}
          />
          <TextField
            label="Note"
            name="note"
            optional
            maxLength={200}
            value={form.note}
            onChange={(e) => setField('note', e.target.value)}
            error={fieldErrors.note}
            disabled={disabled}
          />
        </div>
        <datalist id={`${listId}-symbols`}>
          {symbols.map((symbol) => (
            <option key={symbol} value={symbol} />
          ))}
        </datalist>
        <div className="form__actions">
          <Button type="submit" loading={submitting} disabled={disabled}>
            Create alert
          </Button>
        </div>
      </form>

      {notice ? <Alert tone="success">{notice}</Alert> : null}
      {actionError ? <Alert tone="error">{actionError}</Alert> : null}

      {query.isPending && !loadError ? (
        <p className="platform-card__state" role="status">
          <Spinner size="sm" /> Loading your alerts…
        </p>
      ) : null}
      {loadError ? (
        <ServiceDown
          title={loadError}
          others="Your positions and quotes still work."
          onRetry={() => void query.refetch()}
          disabled={disabled}
        />
      ) : null}
      {query.data && alerts.length === 0 ? (
        <p className="empty">No alerts yet. Create one above to hear when a price crosses your level.</p>
      ) : null}
      {alerts.length > 0 ? (
        <ul className="list alerts" aria-label="Your alerts">
          {alerts.map((alert) => {
            const label = describeAlert(alert);
            const paused = alert.active === false;
            return (
              <li key={alert.alert_id} className={`list__item${paused ? ' alerts__item--paused' : ''}`}>
                <div className="list__main">
                  <p className="list__title">
                    {label}
                    {paused ? <span className="badge badge--neutral">paused</span> : null}
                  </p>
                  <p className="list__meta">
                    {alert.note ? <span>{alert.note}</span> : null}
                    <span>Created {formatDateTime(alert.created_at)}</span>
                  </p>
                </div>
                <div className="alerts__actions">
                  {canPause ? (
                    <label className="switch">
                      <input
                        type="checkbox"
                        role="switch"
                        checked={alert.active !== false}
                        aria-checked={alert.active !== false}
                        disabled={disabled || busy !== null}
                        onChange={() => void toggle(alert)}
                        aria-label={`Alert ${label} active`}
                      />
                      <span aria-hidden="true">Active</span>
                    </label>
                  ) : null}
                  <Button
                    variant="danger-ghost"
                    size="sm"
                    loading={busy === alert.alert_id}
                    disabled={disabled || busy !== null}
                    onClick={() => void remove(alert)}
                    aria-label={`Delete alert ${label}`}
                  >
                    Delete
                  </Button>
                </div>
              </li>
            );
          })}
        </ul>
      ) : null}
    </section>
  );
}
