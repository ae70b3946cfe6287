import type { ReactNode } from 'react';
import { Navigate, Outlet, useLocation, type Location } from 'react-router';
import { useAuth, type EndReason } from '../contexts/AuthContext';
import { PageLoader } from './Spinner';

export interface LoginRedirectState {
  from?: Pick<Location, 'pathname' | 'search' | 'hash'>;
  reason?: EndReason;
}

/** Renders its pages only for a signed-in user; otherwise sends them to /login and back after. */
export function ProtectedRoute({ children }: { children?: ReactNode }) {
  const { status, endReason } = useAuth();
  const location = useLocation();
  if (status === 'loading') return <PageLoader label="Checking your session…" />;
  if (status === 'anonymous') {
    // After an explicit sign-out, signing in again starts at home, not on the page left behind.
    const signedOut = endReason === 'signed_out' || endReason === 'signed_out_everywhere';
    const state: LoginRedirectState = {
      from: signedOut ? undefined : { pathname: location.pathname, search: location.search, hash: location.hash },
      reason: endReason,
    };
    return <Navigate to="/login" replace state={state} />;
  }
  return children ?? <Outlet />;
}

/** Sign-in pages: a signed-in user goes on to where they were heading (or home). */
export function GuestRoute({ children }: { children?: ReactNode }) {
  const { status } = useAuth();
  const location = useLocation();
  if (status === 'loading') return <PageLoader label="Checking your session…" />;
  if (status === 'authenticated') {
    const from = (location.state as LoginRedirectState | null)?.from;
    const target = from && from.pathname !== '/login' ? `${from.pathname}${from.search ?? ''}${from.hash ?? ''}` : '/';
    return <Navigate to={target} replace />;
  }
  return children ?? <Outlet />;
}
