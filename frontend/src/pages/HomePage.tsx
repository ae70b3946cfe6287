import { Link } from 'react-router';
import { PageHeader } from '../components/PageHeader';
import { StatusBadge } from '../components/StatusBadge';
import { formatDate } from '../components/format';
import { useAuth } from '../contexts/AuthContext';

const LINKS = [
  { to: '/platform', title: 'Platform', text: 'Your positions, live quotes and price alerts.' },
  { to: '/profile', title: 'Profile', text: 'Your name, phone, time zone and language.' },
  { to: '/security', title: 'Security', text: 'Two-factor authentication, backup codes and your password.' },
  { to: '/sessions', title: 'Sessions', text: 'Where you are signed in. Sign out of a device or everywhere.' },
  {
    to: '/trading-accounts',
    title: 'Trading accounts',
    text: 'Link your Kite account, connect it each day, share access.',
  },
  { to: '/audit', title: 'Activity', text: 'Sign-ins, security changes and account events.' },
];

export function HomePage() {
  const { user } = useAuth();
  if (!user) return null;
  const firstName = user.name?.split(/\s+/)[0] || user.email;
  return (
    <>
      <PageHeader
        title={`Welcome, ${firstName}`}
        description="Manage your Quantagro identity and the trading accounts linked to it."
      />
      <section className="card summary" aria-labelledby="summary-heading">
        <h2 id="summary-heading" className="card__title">
          Your account
        </h2>
        <dl className="summary__grid">
          <div>
            <dt>Name</dt>
            <dd>{user.name || '—'}</dd>
          </div>
          <div>
            <dt>Email</dt>
            <dd>
              {user.email} <StatusBadge status={user.email_verified ? 'verified' : 'unverified'} />
            </dd>
          </div>
          <div>
            <dt>Two-factor authentication</dt>
            <dd>
              {user.mfa_enabled ? (
                <StatusBadge status="active" label="on" />
              ) : (
                <>
                  <StatusBadge status="pending" label="off" /> <Link to="/security">Turn on</Link>
                </>
              )}
            </dd>
          </div>
          <div>
            <dt>Roles</dt>
            <dd>{user.roles?.length ? user.roles.join(', ') : '—'}</dd>
          </div>
          <div>
            <dt>Member since</dt>
            <dd>{formatDate(user.created_at)}</dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={user.status} />
            </dd>
          </div>
        </dl>
      </section>
      <nav aria-label="Account sections" className="tiles">
        {LINKS.map((link) => (
          <Link key={link.to} to={link.to} className="tile">
            <span className="tile__title">{link.title}</span>
            <span className="tile__text">{link.text}</span>
            <span className="tile__arrow" aria-hidden="true">
              →
            </span>
          </Link>
        ))}
      </nav>
    </>
  );
}
