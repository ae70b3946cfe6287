import { useState } from 'react';
import { toApiProblem } from '../services/errors';
import { browserNavigation, identitiesApi } from '../services/identitiesApi';
import { useProvidersQuery } from '../services/queries';
import { Alert } from './Alert';
import { Button } from './Button';

/**
 * "Sign in with Google" (any OpenID Connect provider the service has configured). Renders
 * nothing when the service offers none. The click asks the service to start a flow (it binds
 * the flow to this browser with an HttpOnly cookie) and sends the browser to the provider,
 * which comes back to `/login/{provider}/callback`.
 */
export function GoogleSignInButton({ persistSession = true }: { persistSession?: boolean }) {
  // Without an answer the password form still works: nothing is shown.
  const providers = useProvidersQuery().data ?? [];
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  if (providers.length === 0) return null;

  const go = async (provider: string) => {
    setBusy(provider);
    setError(null);
    try {
      const { authorization_url } = await identitiesApi.start(provider, persistSession);
      browserNavigation.assign(authorization_url);
    } catch (failure) {
      setError(toApiProblem(failure).message);
      setBusy(null);
    }
  };

  return (
    <div className="oidc-providers">
      <p className="oidc-providers__divider" aria-hidden="true">
        <span>or</span>
      </p>
      {error ? <Alert>{error}</Alert> : null}
      {providers.map((provider) => (
        <Button
          key={provider.provider}
          variant="secondary"
          block
          loading={busy === provider.provider}
          onClick={() => void go(provider.provider)}
        >
          Continue with {provider.display_name}
        </Button>
      ))}
    </div>
  );
}
