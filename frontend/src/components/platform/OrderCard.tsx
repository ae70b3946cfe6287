import { useMemo, useState, type FormEvent } from 'react';
import { isAxiosError } from 'axios';
import type { TradingAccount } from '../../api/types';
import { isStepUpDeclinedError } from '../../services/apiClient';
import { ordersApi, toPlatformProblem, type OrderSide, type PlacedOrder } from '../../services/platformApi';
import { useTradingAccountsQuery } from '../../services/queries';
import { Alert } from '../Alert';
import { Button } from '../Button';
import { SelectField, TextField } from '../Field';

const SYMBOL = /^[A-Z0-9][A-Z0-9:&_.-]{0,39}$/;

function canTrade(account: TradingAccount): boolean {
  return (
    account.status === 'active' &&
    !account.frozen &&
    (account.role === 'owner' || account.permissions.includes('trade'))
  );
}

/** Why an order failed, in plain words: the API's codes never reach the screen. */
function orderProblem(error: unknown): string | 'session_ended' {
  if (isStepUpDeclinedError(error)) {
    return 'The order was not placed: trading needs a fresh code from your authenticator app.';
  }
  const code = isAxiosError(error) ? (error.response?.data as { code?: string } | undefined)?.code : undefined;
  if (code === 'account_frozen') return 'Trading on this account is frozen, so the order was not placed.';
  if (code === 'step_up_required') return 'The order was not placed: confirm with a code from your authenticator app.';
  const problem = toPlatformProblem(error, 'Orders');
  if (problem.kind === 'session_ended') return 'session_ended';
  if (isAxiosError(error) && error.response?.status === 403) return 'You are not allowed to trade on this account.';
  return problem.message;
}

/**
 * A (paper) order through the backend. Trading needs a second factor proven in the last five
 * minutes: the step-up dialog appears when the backend asks for it, and the order is retried
 * once the code is accepted.
 */
export function OrderCard({ disabled, onSessionEnded }: { disabled: boolean; onSessionEnded(): void }) {
  const accounts = useTradingAccountsQuery();
  // Without the list (it failed to load) there is nothing to trade on.
  const tradable = useMemo(() => (accounts.data ?? []).filter(canTrade), [accounts.data]);
  const [chosenId, setAccountId] = useState('');
  const accountId = chosenId || tradable[0]?.account_id || '';
  const [symbol, setSymbol] = useState('NSE:INFY');
  const [side, setSide] = useState<OrderSide>('BUY');
  const [quantity, setQuantity] = useState('1');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [placed, setPlaced] = useState<PlacedOrder | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const qty = Number(quantity);
    const found: Record<string, string> = {};
    if (!SYMBOL.test(symbol.trim())) found.symbol = 'Enter an instrument like NSE:INFY.';
    if (!Number.isInteger(qty) || qty <= 0 || qty > 100_000)
      found.quantity = 'Enter a whole number of shares, 1 to 100000.';
    setErrors(found);
    setMessage(null);
    setPlaced(null);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      setPlaced(await ordersApi.place(accountId, { symbol: symbol.trim(), side, quantity: qty }));
    } catch (error) {
      const problem = orderProblem(error);
      if (problem === 'session_ended') onSessionEnded();
      else setMessage(problem);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card platform-card" aria-labelledby="order-heading">
      <div className="card__header">
        <h2 id="order-heading" className="card__title">
          Place an order
        </h2>
      </div>
      {accounts.isPending ? <p className="platform-card__state">Loading your trading accounts…</p> : null}
      {!accounts.isPending && tradable.length === 0 ? (
        <p className="empty">No active trading account you can trade on. Link or connect one in Trading accounts.</p>
      ) : null}
      {tradable.length > 0 ? (
        <form onSubmit={submit} noValidate className="form form--compact">
          {placed ? (
            <Alert tone="success" title="Order accepted.">
              {placed.side === 'BUY' ? 'Buy' : 'Sell'} {placed.quantity} {placed.symbol} (reference {placed.order_id}).
            </Alert>
          ) : null}
          {message ? <Alert tone="error">{message}</Alert> : null}
          <SelectField
            label="Account"
            name="order-account"
            value={accountId}
            onChange={(e) => setAccountId(e.target.value)}
          >
            {tradable.map((account) => (
              <option key={account.account_id} value={account.account_id}>
                Kite {account.user_id_broker}
              </option>
            ))}
          </SelectField>
          <TextField
            label="Instrument"
            name="order-symbol"
            value={symbol}
            onChange={(e) => setSymbol(e.target.value.toUpperCase())}
            error={errors.symbol}
          />
          <SelectField
            label="Side"
            name="order-side"
            value={side}
            onChange={(e) => setSide(e.target.value as OrderSide)}
          >
            <option value="BUY">Buy</option>
            <option value="SELL">Sell</option>
          </SelectField>
          <TextField
            label="Quantity"
            name="order-quantity"
            inputMode="numeric"
            value={quantity}
            onChange={(e) => setQuantity(e.target.value)}
            error={errors.quantity}
          />
          <Button type="submit" loading={busy} disabled={disabled}>
            Place order
          </Button>
        </form>
      ) : null}
    </section>
  );
}
