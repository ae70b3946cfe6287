import { useEffect, useState } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { useAuth } from '../contexts/AuthContext';
import { takeFlash } from '../services/flash';
import { Alert } from './Alert';
import { Brand } from './Brand';
import { Button } from './Button';
import { EmailVerificationBanner } from './EmailVerificationBanner';
import { FrozenBanner } from './FrozenBanner';

const NAV = [
  { to: '/', label: 'Overview', end: true },
  { to: '/platform', label: 'Platform' },
  { to: '/profile', label: 'Profile' },
  { to: '/security', label: 'Security' },
  { to: '/sessions', label: 'Sessions' },
  { to: '/trading-accounts', label: 'Trading accounts' },
  { to: '/audit', label: 'Activity' },
];

export function AppLayout() {
  const { user, logout } = useAuth();
  const [menuOpen, setMenuOpen] = useState(false);
  const [flash] = useState(takeFlash);
  const [signingOut, setSigningOut] = useState(false);
  const location = useLocation();

  // biome-ignore lint/correctness/useExhaustiveDependencies: the menu closes when the route changes
  useEffect(() => setMenuOpen(false), [location.pathname]);

  const signOut = async () => {
    setSigningOut(true);
    try {
      await logout();
    } finally {
      setSigningOut(false);
    }
  };

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar__inner">
          <NavLink to="/" className="topbar__brand" aria-label="Quantagro Account — overview">
            <Brand />
          </NavLink>
          <button
            type="button"
            className="topbar__menu-toggle"
            aria-expanded={menuOpen}
            aria-controls="primary-nav"
            onClick={() => setMenuOpen((open) => !open)}
          >
            <span aria-hidden="true">☰</span>
            <span className="visually-hidden">Menu</span>
          </button>
          <nav id="primary-nav" aria-label="Main" className={`topbar__nav${menuOpen ? ' is-open' : ''}`}>
            <ul>
              {NAV.map((item) => (
                <li key={item.to}>
                  <NavLink to={item.to} end={item.end} className="topbar__link">
                    {item.label}
                  </NavLink>
                </li>
              ))}
            </ul>
            <div className="topbar__user">
              <span className="topbar__user-name" title={user?.email}>
                {user?.name || user?.email}
              </span>
              <Button variant="ghost" size="sm" onClick={signOut} loading={signingOut}>
                Sign out
              </Button>
            </div>
          </nav>
        </div>
      </header>
      <FrozenBanner />
      <EmailVerificationBanner />
      <main id="main" className="content">
        {flash ? (
          <Alert tone="warning" title="Backup codes">
            {flash}
          </Alert>
        ) : null}
        <Outlet />
      </main>
    </div>
  );
}

export function AuthLayout() {
  return (
    <div className="auth">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <div className="auth__brand">
        <Brand />
      </div>
      <main id="main" className="auth__card">
        <Outlet />
      </main>
      <p className="auth__footer">Quantagro · Secure sign-in for the trading platform</p>
    </div>
  );
}
