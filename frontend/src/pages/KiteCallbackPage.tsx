import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { Alert } from '../components/Alert';
import { PageHeader } from '../components/PageHeader';
import { PageLoader } from '../components/Spinner';
import { toApiProblem } from '../services/errors';
import { tradingAccountsApi } from '../services/tradingAccountsApi';
import { KITE_PENDING_ACCOUNT_KEY } from './TradingAccountsPage';

/**
 * Kite sends the user back here with `request_token` (single-use, valid for minutes) and our own
 * `account_id` redirect parameter; the service exchanges it for the day's access token.
 */
export function KiteCallbackPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
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
    if (status && status !== 'success') {
      setError('Kite did not complete the login. Try “Connect with Kite” again.');
      return;
    }
    if (!requestToken || !accountId) {
      setError('This Kite return link is incomplete. Start again with “Connect with Kite”.');
      return;
    }
    tradingAccountsApi
      .kiteSession(accountId, requestToken)
      .then((account) => {
        const name = account?.user_id_broker ? `Kite account ${account.user_id_broker}` : 'Your Kite account';
        navigate('/trading-accounts', { replace: true, state: { notice: `${name} is connected for today.` } });
      })
      .catch((err) => setError(toApiProblem(err).message));
  }, [navigate, params]);

  return (
    <>
      <PageHeader title="Connecting your Kite account" />
      {error ? (
        <>
          <Alert tone="error">{error}</Alert>
          <Link to="/trading-accounts" className="btn btn--secondary">
            Back to trading accounts
          </Link>
        </>
      ) : (
        <PageLoader label="Exchanging the Kite login for today’s session…" />
      )}
    </>
  );
}
