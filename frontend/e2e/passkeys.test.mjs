// Passkeys end to end in Chromium with the DevTools protocol's virtual authenticator
// (CTAP2, internal transport, resident keys, user verification): register one on the Security
// page, sign in without a password, use it as the second factor after a password, remove it.
//
// WebAuthn needs a domain as relying-party id (never an IP address), so this suite opens the
// console at http://localhost:PORT (E2E_PASSKEY_URL; scripts/e2e_stack.py configures the service
// with WEBAUTHN_RP_ID=localhost).
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { BASE_URL, api, expectHeading, launchBrowser, newContext, screenshot, step } from './support.mjs';

const PASSKEY_URL = (process.env.E2E_PASSKEY_URL ?? BASE_URL.replace('127.0.0.1', 'localhost')).replace(/\/$/, '');
const trader = {
  name: 'Pia Passkey',
  email: `passkey-${Date.now()}@example.com`,
  password: 'Passkey-Trader-2026!',
};
const PASSKEY_NAME = 'Laptop passkey';

let browser;
let context;
let page;
let cdp;
let authenticatorId;

async function signOutLocally() {
  // The access token lives in memory and the refresh token in a cookie: both gone = signed out.
  await context.clearCookies();
  await page.goto('/login');
  await expectHeading(page, 'Sign in');
}

async function passwordStep() {
  await page.getByLabel('Email').fill(trader.email);
  await page.getByLabel('Password', { exact: true }).fill(trader.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function confirmPassword() {
  const dialog = page.getByRole('alertdialog', { name: 'Confirm it’s you' });
  await dialog.waitFor();
  await dialog.getByLabel('Current password').fill(trader.password);
  await dialog.getByRole('button', { name: 'Continue' }).click();
  await dialog.waitFor({ state: 'detached' });
}

/** Whether the virtual authenticator answers by itself (as if the user touched it). */
async function presence(enabled) {
  await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled });
}

async function credentials() {
  const { credentials: found } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  return found;
}

describe('Passkeys in Chromium (virtual authenticator)', { concurrency: false }, () => {
  before(async () => {
    const registered = await api('POST', '/v1/auth/register', trader);
    assert.equal(registered.status, 201, JSON.stringify(registered.data));
    browser = await launchBrowser();
    context = await newContext(browser, { baseURL: PASSKEY_URL });
    page = await context.newPage();
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
  });

  after(async () => {
    await browser?.close();
  });

  const opts = { getBrowser: () => browser };

  step(
    'register a named passkey on the Security page after confirming the password',
    async () => {
      await page.goto('/login');
      await passwordStep();
      await page.waitForURL((url) => !url.pathname.startsWith('/login'));
      await page.goto('/security');
      await expectHeading(page, 'Security');
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.getByLabel('Name').fill(PASSKEY_NAME);
      await page.getByRole('button', { name: 'Create passkey' }).click();
      await confirmPassword();
      // The first factor brings the backup codes, shown once.
      await page.getByTestId('backup-codes').waitFor();
      await screenshot(page, 'passkey-registered-backup-codes');
      await page.getByLabel('I have saved these codes somewhere safe').check();
      await page.getByRole('button', { name: 'Done' }).click();
      const list = page.getByRole('list', { name: 'Your authenticators' });
      await list.getByText(PASSKEY_NAME).waitFor();
      await page.getByTestId('backup-codes-remaining').getByText('10 backup codes left').waitFor();
      await screenshot(page, 'passkey-listed');
      const stored = await credentials();
      assert.equal(stored.length, 1);
      assert.equal(stored[0].isResidentCredential, true);
      assert.equal(stored[0].rpId, 'localhost');
    },
    opts,
  );

  step(
    'sign in without a password from the e-mail field (conditional UI)',
    async () => {
      await context.clearCookies();
      // The browser's autofill request starts with the page; the virtual authenticator answers
      // it at once (automatic presence), as a user picking the suggested passkey would.
      await page.goto('/login');
      await page.getByRole('heading', { level: 1, name: /Welcome/ }).waitFor();
      await screenshot(page, 'passkey-signed-in');
      const [credential] = await credentials();
      assert.ok(credential.signCount >= 1, 'the authenticator signed at least once');
    },
    opts,
  );

  step(
    'sign in without a password with the explicit button',
    async () => {
      await presence(false);
      await signOutLocally();
      assert.equal(await page.getByLabel('Email').getAttribute('autocomplete'), 'username webauthn');
      await screenshot(page, 'passkey-login-page');
      await page.getByRole('button', { name: 'Use a passkey' }).click();
      await presence(true);
      await page.getByRole('heading', { level: 1, name: /Welcome/ }).waitFor();
    },
    opts,
  );

  step(
    'use the passkey as the second factor after the password',
    async () => {
      await presence(false);
      await signOutLocally();
      await passwordStep();
      await expectHeading(page, 'Two-factor authentication');
      await screenshot(page, 'passkey-mfa-step');
      await presence(true);
      await page.getByRole('button', { name: 'Use your passkey' }).click();
      await page.getByRole('heading', { level: 1, name: /Welcome/ }).waitFor();
    },
    opts,
  );

  step(
    'remove the passkey with a confirmation and the password',
    async () => {
      await page.goto('/security');
      await expectHeading(page, 'Security');
      await page.getByRole('button', { name: `Remove ${PASSKEY_NAME}` }).click();
      const confirm = page.getByRole('alertdialog', { name: `Remove “${PASSKEY_NAME}”?` });
      await screenshot(page, 'passkey-remove-confirm');
      await confirm.getByRole('button', { name: 'Remove and turn off' }).click();
      await confirmPassword();
      await page.getByText(`“${PASSKEY_NAME}” was removed. Two-factor authentication is off.`).waitFor();
      await page.getByText('No second factor yet.').waitFor();
      await screenshot(page, 'passkey-removed');

      // The browser still holds the key, but the service no longer accepts it.
      await presence(false);
      await signOutLocally();
      await page.getByRole('button', { name: 'Use a passkey' }).click();
      await presence(true);
      await page.getByRole('alert').filter({ hasText: 'The passkey was not accepted' }).waitFor();
      assert.ok(page.url().includes('/login'));
      await screenshot(page, 'passkey-refused-after-removal');
    },
    opts,
  );
});
