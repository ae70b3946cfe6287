import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useLocation } from 'react-router';
import { useAuth } from '../contexts/AuthContext';
import type { IdentityNoticeState } from '../pages/OidcCallbackPage';
import { browserNavigation, identitiesApi, type LinkedIdentity, type Provider } from '../services/identitiesApi';
import { queryKeys, useIdentitiesQuery, useProvidersQuery } from '../services/queries';
import { Alert } from './Alert';
import { Button } from './Button';
import { ConfirmDialog } from './ConfirmDialog';
import { FormAlert } from './FormAlert';
import { formatDateTime } from './format';
import { LoadError } from './LoadError';
import { ProofFields, useProof } from './ProofFields';
import { useAsyncForm } from './useAsyncForm';

/**
 * The Security page's "Sign-in with other accounts": the provider accounts (Google) linked to
 * this account, unlinking them (never the last way in: an account without a password keeps
 * its last one), and "Link Google" (after re-entering the password or a code). Hidden when the
 * service offers no provider and nothing is linked.
 */
export function LinkedIdentitiesCard() {
  const { user } = useAuth();
  const location = useLocation();
  const queryClient = useQueryClient();
  const offered = useProvidersQuery();
  const mine = useIdentitiesQuery();
  const providers = offered.data ?? [];
  const data = mine.data;
  const loadError = offered.error ?? mine.error;
  const [notice, setNotice] = useState<string | null>(
    (location.state as IdentityNoticeState | null)?.identityNotice ?? null,
  );
  const [unlinking, setUnlinking] = useState<LinkedIdentity | null>(null);
  const [linking, setLinking] = useState<Provider | null>(null);
  const unlinkForm = useAsyncForm();

  if (!user) return null;
  if (!loadError && (!data || !offered.data || (providers.length === 0 && data.items.length === 0))) return null;

  const unlink = async () => {
    if (!unlinking) return;
    const target = unlinking;
    const result = await unlinkForm.run(() => identitiesApi.unlink(target.identity_id));
    setUnlinking(null);
    if (result.ok) {
      setNotice(`${label(target.provider, providers)} (${target.email ?? 'account'}) is unlinked.`);
      await queryClient.invalidateQueries({ queryKey: queryKeys.identities });
    }
  };

  const linkable = providers.filter((p) => !data?.items.some((item) => item.provider === p.provider));

  return (
    <section className="card" aria-labelledby="identities-heading">
      <div className="card__header">
        <h2 id="identities-heading" className="card__title">
          Sign-in with other accounts
        </h2>
      </div>
      {notice ? <Alert tone="success">{notice}</Alert> : null}
      {loadError ? (
        <LoadError
          error={loadError}
          onRetry={() => {
            if (offered.isError) void offered.refetch();
            if (mine.isError) void mine.refetch();
          }}
        />
      ) : null}
      <FormAlert form={unlinkForm} />
      {data && data.items.length > 0 ? (
        <ul className="list" aria-label="Linked sign-in accounts">
          {data.items.map((item) => {
            const last = !data.has_password && data.items.length === 1;
            return (
              <li key={item.identity_id} className="list__item">
                <div>
                  <p className="list__title">{label(item.provider, providers)}</p>
                  <p className="list__meta">
                    <span>{item.email ?? 'no e-mail shared'}</span>
                    <span>Linked {formatDateTime(item.created_at)}</span>
                    {item.last_used_at ? <span>Last used {formatDateTime(item.last_used_at)}</span> : null}
                  </p>
                  {last ? (
                    <p className="muted">
                      This is your only way to sign in. To unlink it, first set a password with{' '}
                      <Link to="/forgot-password">“Forgot password”</Link>.
                    </p>
                  ) : null}
                </div>
                <Button
                  variant="danger-ghost"
                  size="sm"
                  disabled={last}
                  onClick={() => setUnlinking(item)}
                  aria-label={`Unlink ${label(item.provider, providers)} ${item.email ?? ''}`.trim()}
                >
                  Unlink
                </Button>
              </li>
            );
          })}
        </ul>
      ) : (
        <p className="muted">No other account is linked. Link one to sign in without typing your password.</p>
      )}
      {linking ? (
        <LinkProviderForm provider={linking} mfaEnabled={user.mfa_enabled} onCancel={() => setLinking(null)} />
      ) : (
        linkable.map((provider) => (
          <Button key={provider.provider} variant="secondary" onClick={() => setLinking(provider)}>
            Link {provider.display_name}
          </Button>
        ))
      )}
      <ConfirmDialog
        open={unlinking !== null}
        title={`Unlink ${unlinking ? label(unlinking.provider, providers) : ''}?`}
        confirmLabel="Unlink"
        busy={unlinkForm.submitting}
        onConfirm={() => void unlink()}
        onCancel={() => setUnlinking(null)}
      >
        <p>You will no longer be able to sign in with {unlinking?.email ?? 'this account'}.</p>
      </ConfirmDialog>
    </section>
  );
}

function label(provider: string, providers: Provider[]): string {
  return providers.find((p) => p.provider === provider)?.display_name ?? (provider === 'google' ? 'Google' : provider);
}

function LinkProviderForm({
  provider,
  mfaEnabled,
  onCancel,
}: {
  provider: Provider;
  mfaEnabled: boolean;
  onCancel(): void;
}) {
  const form = useAsyncForm();
  const proof = useProof(form, 'password');

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await form.run(() => identitiesApi.startLink(provider.provider, proof.body), {
      codeToField: { invalid_password: 'value', invalid_mfa_code: 'value' },
      validate: proof.validate,
    });
    if (result.ok) browserNavigation.assign(result.value.authorization_url);
    else proof.clear();
  };

  return (
    <form ref={form.formRef} onSubmit={onSubmit} noValidate className="form form--compact">
      <p>Confirm it is you, then sign in at {provider.display_name} to link that account.</p>
      <ProofFields
        name="link-identity"
        choose={mfaEnabled}
        choiceLabels={{ code: 'Use a code', password: 'Use my password' }}
        codeLabel="Code from your app, or a backup code"
        passwordLabel="Your password"
        {...proof.fieldProps}
      >
        <FormAlert form={form} />
      </ProofFields>
      <div className="form__row">
        <Button type="submit" loading={form.submitting}>
          Continue to {provider.display_name}
        </Button>
        <Button variant="ghost" onClick={onCancel}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
