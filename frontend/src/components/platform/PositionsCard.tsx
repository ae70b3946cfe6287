import { positionsApi } from '../../services/platformApi';
import { queryKeys } from '../../services/queries';
import { Button } from '../Button';
import { Spinner } from '../Spinner';
import { formatPrice, formatSignedPrice } from '../format';
import { ServiceDown } from './ServiceDown';
import { usePlatformQuery } from './usePlatformQuery';

function tone(value: number): string {
  return value > 0 ? 'gain' : value < 0 ? 'loss' : 'flat';
}

/** F&O positions from the backend (`GET /api/positions`). */
export function PositionsCard({ disabled, onSessionEnded }: { disabled: boolean; onSessionEnded(): void }) {
  const { query, message } = usePlatformQuery(queryKeys.positions, positionsApi.list, 'Positions', onSessionEnded);
  const positions = query.data;
  const total = positions ? positions.reduce((sum, p) => sum + p.pnl, 0) : 0;

  return (
    <section className="card platform-card" aria-labelledby="positions-heading" aria-busy={query.isPending}>
      <div className="card__header">
        <h2 id="positions-heading" className="card__title">
          Positions
        </h2>
        <Button
          variant="secondary"
          size="sm"
          onClick={() => void query.refetch()}
          loading={query.isFetching}
          disabled={disabled}
        >
          Refresh<span className="visually-hidden"> positions</span>
        </Button>
      </div>
      {query.isPending && !message ? (
        <p className="platform-card__state" role="status">
          <Spinner size="sm" /> Loading positions…
        </p>
      ) : null}
      {message ? (
        <ServiceDown
          title={message}
          others="Your quotes and alerts still work."
          onRetry={() => void query.refetch()}
          disabled={disabled}
        />
      ) : null}
      {positions && positions.length === 0 ? <p className="empty">You have no open positions.</p> : null}
      {positions && positions.length > 0 ? (
        <>
          <p className="positions__total">
            Total P&amp;L <strong className={`pnl pnl--${tone(total)}`}>{formatSignedPrice(total)}</strong>
          </p>
          <div className="table-wrap">
            {/* Roles spelled out: the stacked phone layout changes the cells' display. */}
            <table className="table table--stack positions" role="table" aria-labelledby="positions-heading">
              <thead role="rowgroup">
                <tr role="row">
                  <th scope="col" role="columnheader">
                    Instrument
                  </th>
                  <th scope="col" role="columnheader" className="num">
                    Qty
                  </th>
                  <th scope="col" role="columnheader" className="num">
                    Avg. price
                  </th>
                  <th scope="col" role="columnheader" className="num">
                    Last price
                  </th>
                  <th scope="col" role="columnheader" className="num">
                    P&amp;L
                  </th>
                </tr>
              </thead>
              <tbody role="rowgroup">
                {positions.map((position) => (
                  <tr key={position.symbol} role="row">
                    <th scope="row" role="rowheader" className="positions__symbol">
                      {position.symbol}
                    </th>
                    <td role="cell" className="num" data-label="Qty">
                      {position.quantity > 0 ? position.quantity : <span className="short">{position.quantity}</span>}
                    </td>
                    <td role="cell" className="num" data-label="Avg. price">
                      {formatPrice(position.average_price)}
                    </td>
                    <td role="cell" className="num" data-label="Last price">
                      {formatPrice(position.last_price)}
                    </td>
                    <td role="cell" className={`num pnl pnl--${tone(position.pnl)}`} data-label="P&L">
                      {formatSignedPrice(position.pnl)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  );
}
