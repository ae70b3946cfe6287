import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { Session, SessionList } from '../api/types';
import { Alert } from '../components/Alert';
import { Button } from '../components/Button';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { LoadError } from '../components/LoadError';
import { PageHeader } from '../components/PageHeader';
import { PageLoader } from '../components/Spinner';
import { deviceName, formatDateTime, formatRelative } from '../components/format';
import { useAuth } from '../contexts/AuthContext';
import { authApi } from '../services/authApi';
import { toApiProblem } from '../services/errors';
import { queryKeys, useSessionsQuery } from '../services/queries';

function describeDevice(session: Session): string {
  return deviceName(session.user_agent, session.device);
}

const RISK_LABELS: Record<string, string> = {
  new_device: 'New device',
  new_network: 'New network',
  new_country: 'New country',
  impossible_travel: 'Impossible travel',
};

/** The sign-in's risk assessment (docs/risk.md): what was new about it, as badges. */
function RiskBadges({ session }: { session: Session }) {
  const reasons = session.risk_reasons ?? [];
  if (reasons.length === 0) return null;
  const score = session.risk_score ?? 0;
  return (
    // biome-ignore lint/a11y/useSemanticElements: a group of badges, not of form controls (what a fieldset is for)
    <div className="list__meta" role="group" aria-label={`Sign-in risk ${score} of 100`}>
      {reasons.map((reason) => (
        <span key={reason} className={`badge ${score >= 60 ? 'badge--danger' : 'badge--warning'}`}>
          {RISK_LABELS[reason] ?? reason}
        </span>
      ))}
      <span>Risk {score}/100</span>
    </div>
  );
}

export function SessionsPage() {
  const { logout, endSession } = useAuth();
  const queryClient = useQueryClient();
  const query = useSessionsQuery();
  const sessions = query.data;
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<string | null>(null);
  const [confirmAll, setConfirmAll] = useState(false);
  const [signingOutAll, setSigningOutAll] = useState(false);

  const revoke = async (session: Session) => {
    setRevoking(session.session_id);
    setActionError(null);
    setNotice(null);
    try {
      await authApi.revokeSession(session.session_id);
      if (session.current) {
        endSession('signed_out');
        return;
      }
      // The answer is the new state: drop the session from the cached list, no refetch needed.
      queryClient.setQueryData<SessionList>(queryKeys.sessions, (data) =>
        data ? { ...data, sessions: data.sessions.filter((s) => s.session_id !== session.session_id) } : data,
      );
      setNotice(`Signed out ${describeDevice(session)}.`);
    } catch (error) {
      setActionError(toApiProblem(error).message);
    } finally {
      setRevoking(null);
    }
  };

  const signOutEverywhere = async () => {
    setSigningOutAll(true);
    setActionError(null);
    try {
      await logout({ allDevices: true });
    } catch (error) {
      setActionError(toApiProblem(error).message);
      setSigningOutAll(false);
      setConfirmAll(false);
    }
  };

  return (
    <>
      <PageHeader
        title="Sessions"
        description="Devices and browsers signed in to your account. Sign out of any you don’t recognise."
        actions={
          <Button variant="danger" onClick={() => setConfirmAll(true)} disabled={!sessions}>
            Sign out everywhere
          </Button>
        }
      />
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      {actionError ? <Alert tone="error">{actionError}</Alert> : null}
      {query.isError ? <LoadError error={query.error} onRetry={() => void query.refetch()} /> : null}
      {query.isPending ? <PageLoader label="Loading sessions…" /> : null}
      {sessions ? (
        sessions.length === 0 ? (
          <p className="empty">No active sessions.</p>
        ) : (
          <ul className="list" aria-label="Active sessions">
            {sessions.map((session) => {
              const device = describeDevice(session);
              return (
                <li key={session.session_id} className={`list__item${session.current ? ' list__item--current' : ''}`}>
                  <div className="list__main">
                    <p className="list__title">
                      {device}
                      {session.current ? <span className="badge badge--info">This device</span> : null}
                    </p>
                    <p className="list__meta">
                      <span>IP {session.ip || 'unknown'}</span>
                      {session.country ? <span>Country {session.country}</span> : null}
                      <span>
                        Last active{' '}
                        <time
                          dateTime={session.last_active_at ?? undefined}
                          title={formatDateTime(session.last_active_at)}
                        >
                          {formatRelative(session.last_active_at ?? session.created_at)}
                        </time>
                      </span>
                      <span>Signed in {formatDateTime(session.created_at)}</span>
                    </p>
                    <RiskBadges session={session} />
                  </div>
                  <Button
                    variant="secondary"
                    size="sm"
                    loading={revoking === session.session_id}
                    disabled={revoking !== null}
                    onClick={() => void revoke(session)}
                    aria-label={session.current ? `Sign out this device (${device})` : `Revoke ${device}`}
                  >
                    {session.current ? 'Sign out' : 'Revoke'}
                  </Button>
                </li>
              );
            })}
          </ul>
        )
      ) : null}
      <ConfirmDialog
        open={confirmAll}
        title="Sign out everywhere?"
        confirmLabel="Sign out everywhere"
        busy={signingOutAll}
        onCancel={() => setConfirmAll(false)}
        onConfirm={() => void signOutEverywhere()}
      >
        Every device, including this one, will be signed out and will need your password (and code) again.
      </ConfirmDialog>
    </>
  );
}
