import { Link } from 'react-router';
import { Alert } from '../Alert';
import { Button } from '../Button';
import { Spinner } from '../Spinner';
import { formatPrice, formatTime } from '../format';
import { ServiceDown } from './ServiceDown';
import { UNAVAILABLE, type QuoteRow, type QuoteStreamState, type QuoteStreamStatus } from './useQuoteStream';

const STATUS_LABELS: Record<QuoteStreamStatus, string> = {
  connecting: 'Connecting',
  live: 'Live',
  reconnecting: 'Reconnecting',
  unavailable: 'Unavailable',
  stopped: 'Stopped',
};

function Change({ row }: { row: QuoteRow }) {
  if (row.previousPrice === null) return null;
  const diff = Math.round((row.lastPrice - row.previousPrice) * 100) / 100;
  if (diff === 0) {
    return <span className="quote__change">unchanged</span>;
  }
  const up = diff > 0;
  return (
    <span className={`quote__change quote__change--${up ? 'up' : 'down'}`}>
      <span aria-hidden="true">{up ? '▲' : '▼'} </span>
      <span className="visually-hidden">{up ? 'up ' : 'down '}</span>
      {formatPrice(Math.abs(diff))}
    </span>
  );
}

interface QuotesCardProps {
  stream: QuoteStreamState;
  /** The session is over: nothing to retry here, the page says why. */
  sessionEnded: boolean;
  onRetry(): void;
}

/** Live quotes from the ticker, per streaming Kite account. */
export function QuotesCard({ stream, sessionEnded, onRetry }: QuotesCardProps) {
  const { status, message, accounts, quotes, accountErrors } = stream;
  const brokerIds = new Map((accounts ?? []).map((account) => [account.account_id, account.user_id_broker]));
  const groups = [...new Set([...(accounts ?? []).map((a) => a.account_id), ...quotes.map((q) => q.accountId)])];
  const waiting = (status === 'connecting' || status === 'reconnecting') && accounts === null && quotes.length === 0;

  return (
    <section className="card platform-card" aria-labelledby="quotes-heading">
      <div className="card__header">
        <h2 id="quotes-heading" className="card__title">
          Live quotes
        </h2>
        <p className={`stream-status stream-status--${status}`} role="status">
          <span className="stream-status__dot" aria-hidden="true" />
          <span className="visually-hidden">Quote stream: </span>
          {STATUS_LABELS[status]}
        </p>
      </div>

      {waiting ? (
        <p className="platform-card__state">
          <Spinner size="sm" /> {status === 'reconnecting' ? message : 'Connecting to live quotes…'}
        </p>
      ) : null}
      {status === 'reconnecting' && !waiting ? <p className="platform-card__state muted">{message}</p> : null}
      {status === 'unavailable' ? (
        <ServiceDown title={message ?? UNAVAILABLE} others="Your positions and alerts still work." onRetry={onRetry} />
      ) : null}
      {status === 'stopped' && !sessionEnded ? (
        <Alert tone="info" title="Live quotes have stopped.">
          {message}{' '}
          <Button variant="link" onClick={onRetry}>
            Reconnect
          </Button>
        </Alert>
      ) : null}
      {status === 'stopped' && sessionEnded ? <p className="platform-card__state muted">{message}</p> : null}

      {accounts !== null && accounts.length === 0 ? (
        <p className="empty">
          No trading account is streaming quotes. <Link to="/trading-accounts">Link a Kite account</Link> and connect it
          for today to see live prices here.
        </p>
      ) : null}

      {groups.map((accountId) => {
        const rows = quotes.filter((q) => q.accountId === accountId);
        const name = `Kite ${brokerIds.get(accountId) ?? 'account'}`;
        const problem = accountErrors[accountId];
        return (
          <div key={accountId} className="quotes__account">
            {problem ? (
              <p className="quotes__problem">
                <strong>{name}:</strong> {problem}
              </p>
            ) : null}
            {rows.length === 0 && !problem && status === 'live' ? (
              <p className="platform-card__state muted">
                <Spinner size="sm" /> Waiting for the first prices from {name}…
              </p>
            ) : null}
            {rows.length > 0 ? (
              <div className="table-wrap">
                <table className={`table quotes${status === 'live' ? '' : ' quotes--stale'}`}>
                  <caption className="quotes__caption">{name}</caption>
                  <thead>
                    <tr>
                      <th scope="col">Instrument</th>
                      <th scope="col" className="num">
                        Last price
                      </th>
                      <th scope="col" className="num">
                        Updated
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((row) => (
                      <tr key={row.symbol} data-updates={row.updates}>
                        <th scope="row">{row.symbol}</th>
                        <td className="num">
                          <span className="quote__price">{formatPrice(row.lastPrice)}</span>
                          <Change row={row} />
                        </td>
                        <td className="num">
                          <time dateTime={row.timestamp}>{formatTime(row.timestamp)}</time>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : null}
          </div>
        );
      })}
    </section>
  );
}
