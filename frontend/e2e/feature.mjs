// Shared setup of the feature specs (registration, mfa, sessions, …): each spec file gets its own
// browser, its own users (fresh, made through the API) and steps that screenshot on failure, so
// one feature failing hides nothing of the others.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import {
  BASE_URL,
  KITE_URL,
  api,
  apiSignIn,
  expectHeading,
  freshTotp,
  launchBrowser,
  newContext,
  step as base,
  registerVerified,
  signIn,
} from './support.mjs';

const run = Date.now().toString(36);

/** A user nobody registered yet: `tag` keeps e-mails of one spec apart. */
export function newUser(name, tag) {
  const first = name.split(' ')[0].toLowerCase();
  return {
    name,
    email: `${first}.${tag}.${run}@example.com`,
    password: `Tangerine-Orbit-${run}-${tag}-42`,
  };
}

/** A registered user with a verified e-mail (the API). */
export async function verifiedUser(name, tag) {
  const user = newUser(name, tag);
  await registerVerified(user);
  return user;
}

/** A Kite ID unique to this run, e.g. `ZX` + 4 characters. */
export function kiteUserId(prefix) {
  return `${prefix}${run.slice(-4).toUpperCase()}`;
}

/** A Kite Connect app on the stand-in for Kite ID `userId`, sending the trader back to the console. */
export async function registerKiteApp(userId) {
  assert.ok(KITE_URL, 'E2E_KITE_URL is not set');
  const response = await fetch(`${KITE_URL}/_standin/apps`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user_id: userId, redirect_url: `${BASE_URL}/trading-accounts/kite-callback` }),
  });
  assert.equal(response.status, 201, 'the Kite stand-in did not register the app');
  return response.json();
}

/** Signs in with the password (no second factor) and waits for the home page. */
export async function signInHome(p, user) {
  await signIn(p, user.email, user.password);
  await expectHeading(p, /Welcome/);
}

/** Signs `user` in unless this page is signed in already (a step need not rely on the one before). */
export async function ensureSignedIn(p, user) {
  const signedIn = await p
    .getByRole('button', { name: 'Sign out', exact: true })
    .isVisible()
    .catch(() => false);
  if (!signedIn) await signInHome(p, user);
}

/** Turns on two-factor authentication with an authenticator app (the API): `{secret, backupCodes}`. */
export async function enableTotp(user) {
  const token = await apiSignIn(user); // a fresh sign-in counts as recent authentication
  const setup = await api('POST', '/v1/mfa/totp/setup', { name: 'Phone' }, { token });
  assert.equal(setup.status, 200, JSON.stringify(setup.data));
  const enabled = await api('POST', '/v1/mfa/totp/enable', { code: await freshTotp(setup.data.secret) }, { token });
  assert.equal(enabled.status, 200, JSON.stringify(enabled.data));
  return { secret: setup.data.secret, backupCodes: enabled.data.backup_codes };
}

export async function signOut(p) {
  await p.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expectHeading(p, 'Sign in');
}

/**
 * Call inside a spec's `describe`: a browser with one desktop page, opened before its steps and
 * closed after. `spec.step(name, fn)` is a test that leaves screenshots of every open page when
 * it fails and then runs what `spec.cleanups` holds (closing extra contexts).
 */
export function featureBrowser() {
  const spec = { browser: null, context: null, page: null, cleanups: [] };
  before(async () => {
    spec.browser = await launchBrowser();
    spec.context = await newContext(spec.browser);
    spec.page = await spec.context.newPage();
  });
  after(async () => {
    await spec.browser?.close();
  });
  spec.step = (name, fn) =>
    base(name, fn, {
      getBrowser: () => spec.browser,
      finally: async () => {
        for (const cleanup of spec.cleanups.splice(0)) await cleanup().catch(() => undefined);
      },
    });
  return spec;
}
