import { apiClient } from './apiClient';
import type { paths } from '../api/schema';

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;

export type ProvidersResponse = Json<paths['/v1/auth/providers']['get']['responses'][200]>;
export type Provider = ProvidersResponse['providers'][number];
export type OidcStartResponse = Json<paths['/v1/auth/oidc/{provider}/start']['post']['responses'][200]>;
export type OidcCallbackResponse = Json<paths['/v1/auth/oidc/{provider}/callback']['post']['responses'][200]>;
export type LinkRequired = Extract<OidcCallbackResponse, { status: 'link_required' }>;
export type Linked = Extract<OidcCallbackResponse, { status: 'linked' }>;
export type IdentitiesResponse = Json<paths['/v1/users/me/identities']['get']['responses'][200]>;
export type LinkedIdentity = IdentitiesResponse['items'][number];
export type LinkProof = { password: string } | { code: string };

/** Full-page navigations (to the provider, or a fresh load once the session cookie is set);
 * an object so tests can watch them. */
export const browserNavigation = {
  assign(url: string): void {
    window.location.assign(url);
  },
  replace(url: string): void {
    window.location.replace(url);
  },
};

/** Sign-in with an OpenID Connect provider ("Sign in with Google") and linked identities. */
export const identitiesApi = {
  async providers(): Promise<Provider[]> {
    const { data } = await apiClient.get<ProvidersResponse>('/v1/auth/providers', { skipAuth: true });
    return data.providers;
  },

  /** Starts a sign-in; the service sets an HttpOnly cookie binding the flow to this browser. */
  async start(provider: string, persistSession: boolean): Promise<OidcStartResponse> {
    const { data } = await apiClient.post<OidcStartResponse>(
      `/v1/auth/oidc/${encodeURIComponent(provider)}/start`,
      { persist_session: persistSession },
      { skipAuth: true },
    );
    return data;
  },

  async callback(provider: string, code: string, state: string): Promise<OidcCallbackResponse> {
    const { data } = await apiClient.post<OidcCallbackResponse>(
      `/v1/auth/oidc/${encodeURIComponent(provider)}/callback`,
      { code, state },
      { skipAuth: true },
    );
    return data;
  },

  /** Finishes `link_required`: the account's password (and second factor) link and sign in. */
  async completeLink(linkToken: string, password: string, code?: string): Promise<void> {
    await apiClient.post(
      '/v1/auth/oidc/link',
      code ? { link_token: linkToken, password, code } : { link_token: linkToken, password },
      { skipAuth: true },
    );
  },

  async list(): Promise<IdentitiesResponse> {
    const { data } = await apiClient.get<IdentitiesResponse>('/v1/users/me/identities');
    return data;
  },

  /** "Link Google" while signed in: re-prove the password or a code first. */
  async startLink(provider: string, proof: LinkProof): Promise<OidcStartResponse> {
    const { data } = await apiClient.post<OidcStartResponse>(
      `/v1/users/me/identities/${encodeURIComponent(provider)}/start`,
      proof,
    );
    return data;
  },

  async unlink(identityId: string): Promise<void> {
    await apiClient.delete(`/v1/users/me/identities/${encodeURIComponent(identityId)}`);
  },
};
