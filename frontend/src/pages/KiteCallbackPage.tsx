import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { Alert } from '../components/Alert';
import { PageHeader } from '../components/PageHeader';
import { PageLoader } from '../components/Spinner';
import { toApiProblem } from '../services/errors';
import { queryKeys } from '../services/queries';
import { tradingAccountsApi } from '../services/tradingAccountsApi';
import { KITE_PENDING_ACCOUNT_KEY, withRedirectParams } from './TradingAccountsPage';
import { Button } from '../components/Button';

/**
 * Kite sends the user back here with `request_token` (single-use, valid for minutes) and our own
 * `account_id` redirect parameter; the service exchanges it for the day's access token.
 */
export function KiteCallbackPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const [retryAccount, setRetryAccount] = useState<string | null>(null);
  const [retrying, setRetrying] = useState(false);
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const requestToken = params.get('request_token');
    const status = params.get('status');
    // The service's login URL carries `account_id` in Kite's redirect_params; ours adds `account`.
    const accountId =
      params.get('account_id') ?? params.get('account') ?? sessionStorage.getItem(KITE_PENDING_ACCOUNT_KEY);
    sessionStorage.removeItem(KITE_PENDING_ACCOUNT_KEY);
    setRetryAccount(accountId);
    if (status && status !== 'success') {
      setError('The Kite sign-in was cancelled or did not finish, so nothing changed.');
      return;
    }
    if (!requestToken || !accountId) {
      setError('This Kite return link is incomplete. Start again with “Connect with Kite”.');
      return;
    }
    tradingAccountsApi
      .kiteSession(accountId, requestToken)
      .then(async (account) => {
        await queryClient.invalidateQueries({ queryKey: queryKeys.tradingAccounts });
        const name = account?.user_id_broker ? `Kite account ${account.user_id_broker}` : 'Your Kite account';
        navigate('/trading-accounts', { replace: true, state: { notice: `${name} is connected for today.` } });
      })
      .catch((err) => {
        const problem = toApiProblem(err);
        setError(
          problem.code === 'broker_auth_failed' || problem.code === 'broker_rejected'
            ? 'Kite did not accept this sign-in (it works only once and for a few minutes).'
            : problem.message,
        );
      });
  }, [navigate, params, queryClient]);

  const retry = async () => {
    if (!retryAccount) return;
    setRetrying(true);
    try {
      const url = await tradingAccountsApi.kiteLoginUrl(retryAccount);
      sessionStorage.setItem(KITE_PENDING_ACCOUNT_KEY, retryAccount);
      window.location.assign(withRedirectParams(url, retryAccount));
    } catch (err) {
      setError(toApiProblem(err).message);
      setRetrying(false);
    }
  };

  return (
    <>
      <PageHeader title={error ? 'Kite is not connected' : 'Connecting your Kite account'} />
      {error ? (
        <>
          <Alert tone="error">{error}</Alert>
          <div className="form__actions">
            {retryAccount ? (
              <Button onClick={() => void retry()} loading={retrying}>
                Retry with Kite
              </Button>
            ) : null}
            <Link to="/trading-accounts" className="btn btn--secondary">
              Back to trading accounts
            </Link>
          </div>
        </>
      ) : (
        <PageLoader label="Exchanging the Kite login for today’s session…" />
      )}
    </>
  );
}
