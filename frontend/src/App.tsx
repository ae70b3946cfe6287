import { Route, Routes } from 'react-router';
import { AppLayout, AuthLayout } from './components/AppLayout';
import { GuestRoute, ProtectedRoute } from './components/ProtectedRoute';
import { RouteFocus } from './components/RouteFocus';
import { StepUpDialogHost } from './components/StepUpDialog';
import { AuditPage } from './pages/AuditPage';
import { ChangePasswordPage } from './pages/ChangePasswordPage';
import { ForgotPasswordPage } from './pages/ForgotPasswordPage';
import { FreezeLinkPage, UnfreezeConfirmPage } from './pages/FreezePages';
import { HomePage } from './pages/HomePage';
import { KiteCallbackPage } from './pages/KiteCallbackPage';
import { LoginPage } from './pages/LoginPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { OidcCallbackPage } from './pages/OidcCallbackPage';
import { PlatformPage } from './pages/PlatformPage';
import { ProfilePage } from './pages/ProfilePage';
import { RegisterPage } from './pages/RegisterPage';
import { ResetPasswordPage } from './pages/ResetPasswordPage';
import { SecurityPage } from './pages/SecurityPage';
import { SessionsPage } from './pages/SessionsPage';
import { TradingAccountsPage } from './pages/TradingAccountsPage';
import { VerifyEmailPage } from './pages/VerifyEmailPage';

/** Every route of the app; rendered inside a router and an `AuthProvider`. */
export function AppRoutes() {
  return (
    <>
      <RouteFocus />
      <StepUpDialogHost />
      <Routes>
        <Route element={<AuthLayout />}>
          <Route element={<GuestRoute />}>
            <Route path="/login" element={<LoginPage />} />
            <Route path="/register" element={<RegisterPage />} />
            <Route path="/forgot-password" element={<ForgotPasswordPage />} />
          </Route>
          <Route path="/reset-password" element={<ResetPasswordPage />} />
          <Route path="/verify-email" element={<VerifyEmailPage />} />
          <Route path="/freeze" element={<FreezeLinkPage />} />
          <Route path="/login/:provider/callback" element={<OidcCallbackPage />} />
        </Route>
        <Route element={<ProtectedRoute />}>
          <Route element={<AppLayout />}>
            <Route index element={<HomePage />} />
            <Route path="/platform" element={<PlatformPage />} />
            <Route path="/profile" element={<ProfilePage />} />
            <Route path="/security" element={<SecurityPage />} />
            <Route path="/unfreeze" element={<UnfreezeConfirmPage />} />
            <Route path="/change-password" element={<ChangePasswordPage />} />
            <Route path="/sessions" element={<SessionsPage />} />
            <Route path="/audit" element={<AuditPage />} />
            <Route path="/trading-accounts" element={<TradingAccountsPage />} />
            <Route path="/trading-accounts/kite-callback" element={<KiteCallbackPage />} />
            {/* The Kite stand-in's default redirect URL; same page. */}
            <Route path="/trading-accounts/kite/callback" element={<KiteCallbackPage />} />
            <Route path="*" element={<NotFoundPage />} />
          </Route>
        </Route>
      </Routes>
    </>
  );
}
