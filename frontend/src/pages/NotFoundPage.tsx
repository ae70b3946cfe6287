import { Link } from 'react-router';
import { PageHeader } from '../components/PageHeader';

export function NotFoundPage() {
  return (
    <>
      <PageHeader title="Page not found" description="The page you asked for does not exist or has moved." />
      <Link to="/" className="btn btn--primary">
        Go to your account
      </Link>
    </>
  );
}
