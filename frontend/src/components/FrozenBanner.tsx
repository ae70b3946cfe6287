import { Link } from 'react-router';
import { useAuth } from '../contexts/AuthContext';

/** Across the console while the account is frozen: what it means and where to undo it. */
export function FrozenBanner() {
  const { user } = useAuth();
  if (!user?.frozen) return null;
  return (
    <section className="banner banner--danger" aria-label="Account frozen">
      <div className="banner__inner">
        <p className="banner__text">
          <strong>Your account is frozen.</strong> Trading is off on all your trading accounts, including for people you
          share them with. <Link to="/security">Unfreeze it in Security</Link>.
        </p>
      </div>
    </section>
  );
}
