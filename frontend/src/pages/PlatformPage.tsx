import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { PageHeader } from '../components/PageHeader';
import { Link } from 'react-router';
import { AlertsCard } from '../components/platform/AlertsCard';
import { OrderCard } from '../components/platform/OrderCard';
import { PositionsCard } from '../components/platform/PositionsCard';
import { QuotesCard } from '../components/platform/QuotesCard';
import { useQuoteStream, type SessionEnd } from '../components/platform/useQuoteStream';
import { useAuth } from '../contexts/AuthContext';

const ENDED: Record<SessionEnd, { title: string; text: string; action: string }> = {
  revoked: {
    title: 'You were signed out on another device.',
    text: 'Live quotes have stopped, and nothing here can be changed until you sign in again.',
    action: 'Sign in again',
  },
  disabled: {
    title: 'Your account is no longer active.',
    text: 'You were signed out and live quotes have stopped. Contact Quantagro support if you think this is a mistake.',
    action: 'Go to sign in',
  },
  expired: {
    title: 'Your session has ended.',
    text: 'You may have signed out on another device. Live quotes have stopped; sign in again to continue.',
    action: 'Sign in again',
  },
};

/**
 * The platform's services on one page: positions (backend), live quotes (ticker WebSocket) and
 * price alerts (alert service), all with the session's in-memory access token. When the
 * session ends elsewhere the page stays, says so, stops the quotes and offers to sign in.
 */
export function PlatformPage() {
  const { user } = useAuth();
  if (user?.frozen) {
    return (
      <>
        <PageHeader
          title="Platform"
          description="Your positions, live quotes from your Kite accounts, and your price alerts."
        />
        <Alert tone="warning" title="Trading is frozen.">
          <p>
            You froze your account, so quotes, positions and orders are off, including for people you share your trading
            accounts with. <Link to="/security">Unfreeze it in Security</Link> to trade again.
          </p>
        </Alert>
      </>
    );
  }
  return <LivePlatform />;
}

function LivePlatform() {
  const { endSession } = useAuth();
  const [ended, setEnded] = useState<SessionEnd | null>(null);
  const endedRef = useRef<HTMLDivElement>(null);

  const onStreamEnded = useCallback((end: SessionEnd) => setEnded((current) => current ?? end), []);
  const onRequestEnded = useCallback(() => setEnded((current) => current ?? 'expired'), []);
  const stream = useQuoteStream({ enabled: ended === null, onSessionEnded: onStreamEnded });

  useEffect(() => {
    if (ended) endedRef.current?.focus();
  }, [ended]);

  const symbols = useMemo(() => [...new Set(stream.quotes.map((quote) => quote.symbol))].sort(), [stream.quotes]);

  return (
    <>
      <PageHeader
        title="Platform"
        description="Your positions, live quotes from your Kite accounts, and your price alerts."
      />
      {ended ? (
        <Alert ref={endedRef} tone="error" title={ENDED[ended].title} className="session-ended">
          <p>{ENDED[ended].text}</p>
          <Button onClick={() => endSession(ended === 'revoked' ? 'ended_elsewhere' : 'expired')}>
            {ENDED[ended].action}
          </Button>
        </Alert>
      ) : null}
      <div className="platform">
        <PositionsCard disabled={ended !== null} onSessionEnded={onRequestEnded} />
        <OrderCard disabled={ended !== null} onSessionEnded={onRequestEnded} />
        <QuotesCard stream={stream} sessionEnded={ended !== null} onRetry={stream.retry} />
        <AlertsCard disabled={ended !== null} symbols={symbols} onSessionEnded={onRequestEnded} />
      </div>
    </>
  );
}
