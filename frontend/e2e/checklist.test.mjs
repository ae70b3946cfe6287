// The manual checklist of issue 6, in a real browser against the real service.
// Start it with `.venv/bin/python scripts/e2e_stack.py` (it sets E2E_BASE_URL, E2E_MAIL_DIR,
// E2E_KITE_URL and runs `npm run e2e`). The steps share one user and run in order.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  BASE_URL,
  KITE_URL,
  PHONE,
  api,
  expectHeading,
  freshTotp,
  launchBrowser,
  newContext,
  screenshot,
  signIn,
  startTotpSetup,
  step as base,
  waitForLink,
} from './support.mjs';

const run = Date.now().toString(36);
const owner = {
  name: 'Asha Rao',
  email: `asha.${run}@example.com`,
  password: `Tangerine-Orbit-${run}-42`,
};
const member = { name: 'Ravi Kumar', email: `ravi.${run}@example.com`, password: `Copper-Lantern-${run}-77` };
const seenLinks = new Set();
const state = { totpSecret: null, backupCodes: [], kiteApp: null, secondApp: null };

let browser;
let context;
let page;

async function signInWithBackupCode(p, email, password) {
  await signIn(p, email, password);
  await expectHeading(p, 'Two-factor authentication');
  await p.getByRole('button', { name: 'Use a backup code instead' }).click();
  const code = state.backupCodes.shift();
  assert.ok(code, 'no backup code left');
  await p.getByLabel('Backup code').fill(code);
  await p.getByRole('button', { name: 'Verify' }).click();
  await expectHeading(p, /Welcome/);
}

/**
 * Signs in with whatever second factor the account has (a backup code, else a TOTP code), so a
 * step does not depend on an earlier one having left the browser signed in.
 */
async function ensureSignedIn(p) {
  if (
    await p
      .getByRole('button', { name: 'Sign out', exact: true })
      .isVisible()
      .catch(() => false)
  )
    return;
  await signIn(p, owner.email, owner.password);
  const welcome = p.getByRole('heading', { level: 1, name: /Welcome/ });
  const mfa = p.getByRole('heading', { level: 1, name: 'Two-factor authentication' });
  await welcome.or(mfa).waitFor();
  if (await welcome.isVisible()) return;
  if (state.backupCodes.length > 0) {
    await p.getByRole('button', { name: 'Use a backup code instead' }).click();
    await p.getByLabel('Backup code').fill(state.backupCodes.shift());
  } else {
    assert.ok(state.totpSecret, 'MFA is on but no second factor is known');
    await p.getByLabel('Authentication code').fill(await freshTotp(state.totpSecret));
  }
  await p.getByRole('button', { name: 'Verify' }).click();
  await welcome.waitFor();
}

async function signOut(p) {
  await p.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expectHeading(p, 'Sign in');
}

async function openTradingAccounts() {
  await ensureSignedIn(page);
  if (new URL(page.url()).pathname !== '/trading-accounts') {
    await page.goto('/trading-accounts');
    await expectHeading(page, 'Trading accounts');
  }
}

async function registerKiteApp(userId) {
  assert.ok(KITE_URL, 'E2E_KITE_URL is not set');
  const response = await fetch(`${KITE_URL}/_standin/apps`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user_id: userId, redirect_url: `${BASE_URL}/trading-accounts/kite-callback` }),
  });
  assert.equal(response.status, 201, 'the Kite stand-in did not register the app');
  return response.json();
}

/** How to close what the running step opened (other browser contexts), after it. */
const cleanups = [];

function step(name, fn) {
  base(name, fn, {
    getBrowser: () => browser,
    finally: async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
    },
  });
}

describe('Quantagro account checklist', { concurrency: false }, () => {
  before(async () => {
    browser = await launchBrowser();
    context = await newContext(browser);
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
  });

  step('register with live password feedback', async () => {
    await page.goto('/register');
    await expectHeading(page, 'Create your account');
    await page.getByLabel('Full name').fill(owner.name);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password', { exact: true }).fill('weakpass');
    await page.locator('[data-rule="length"].rule--met').waitFor({ state: 'detached' });
    await page.getByLabel('Password', { exact: true }).fill(owner.password);
    await page.locator('[data-rule="strength"].rule--met').waitFor();
    await page.getByLabel('Confirm password').fill(owner.password);
    await screenshot(page, 'register');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expectHeading(page, 'Check your inbox');
    await screenshot(page, 'register-done');
  });

  step('the API refuses a duplicate email with an inline error', async () => {
    await page.goto('/register');
    await page.getByLabel('Full name').fill(owner.name);
    await page.getByLabel('Email').fill(owner.email.toUpperCase());
    await page.getByLabel('Password', { exact: true }).fill(owner.password);
    await page.getByLabel('Confirm password').fill(owner.password);
    await page.locator('[data-rule="strength"].rule--met').waitFor();
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByLabel('Email').getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'register-duplicate');
  });

  step('log in; the unverified banner resends; verify the email from the link', async () => {
    await signIn(page, owner.email, owner.password);
    await expectHeading(page, /Welcome, Asha/);
    const banner = page.getByRole('region', { name: 'Email verification' });
    await banner.waitFor();
    await screenshot(page, 'home-unverified');
    // The first mail (registration) and the resent one both carry a link; use the newest.
    await waitForLink(owner.email, '/verify-email', { seen: seenLinks });
    await banner.getByRole('button', { name: 'Resend email' }).click();
    await banner.getByText('A new link is on its way.').waitFor();
    const link = await waitForLink(owner.email, '/verify-email', { seen: seenLinks });
    await page.goto(link);
    await page.getByText('Your email address is verified.').waitFor();
    await screenshot(page, 'verify-email');
    await page.getByRole('link', { name: 'Go to your account' }).click();
    await expectHeading(page, /Welcome/);
    assert.equal(await page.getByRole('region', { name: 'Email verification' }).count(), 0);
  });

  step('a reload keeps the user signed in (refresh cookie, token in memory only)', async () => {
    await page.reload();
    await expectHeading(page, /Welcome, Asha/);
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    );
    assert.ok(!/eyJ/.test(stored), 'a JWT was found in Web Storage');
    const cookies = await context.cookies();
    const refresh = cookies.find((cookie) => cookie.name === 'refresh_token');
    assert.ok(refresh, 'no refresh_token cookie');
    assert.equal(refresh.httpOnly, true);
    await screenshot(page, 'home');
  });

  step('edit the profile', async () => {
    await ensureSignedIn(page);
    await page.getByRole('link', { name: 'Profile', exact: true }).first().click();
    await expectHeading(page, 'Profile');
    await page.getByRole('button', { name: 'Edit profile' }).click();
    await page.getByLabel('Name').fill('Asha R. Rao');
    await page.getByLabel('Phone').fill('+91 98765 43210');
    await page.getByLabel('Time zone').fill('Asia/Kolkata');
    await page.getByLabel('Language and region').fill('en-IN');
    await screenshot(page, 'profile-edit');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Your profile was saved.').waitFor();
    await page.getByText('+91 98765 43210').waitFor();
    await screenshot(page, 'profile');
  });

  step('enable MFA with the code computed from the secret shown', async () => {
    await ensureSignedIn(page);
    await page.goto('/security');
    await expectHeading(page, 'Security');
    await screenshot(page, 'security');
    await startTotpSetup(page, owner.password, 'Work phone');
    const secretText = await page.getByTestId('totp-secret').textContent();
    state.totpSecret = secretText.replace(/\s+/g, '');
    assert.match(state.totpSecret, /^[A-Z2-7]{32,}$/);
    const qr = page.getByRole('img', { name: /QR code/ });
    assert.match(await qr.getAttribute('src'), /^data:image\//);
    await screenshot(page, 'mfa-setup');
    await page.getByLabel('Code from the app').fill(await freshTotp(state.totpSecret));
    await page.getByRole('button', { name: 'Turn on', exact: true }).click();
    const codes = page.getByTestId('backup-codes');
    await codes.waitFor();
    state.backupCodes = (await codes.locator('code').allTextContents()).map((code) => code.trim());
    assert.equal(state.backupCodes.length, 10);
    await screenshot(page, 'mfa-backup-codes');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download .txt' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'quantagro-backup-codes.txt');
    await page.getByLabel('I have saved these codes somewhere safe').check();
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByText('Two-factor authentication is on.').waitFor();
  });

  step('log out and log in again with a TOTP code', async () => {
    assert.ok(state.totpSecret, 'MFA was not enabled by the previous step');
    await ensureSignedIn(page);
    await signOut(page);
    await signIn(page, owner.email, owner.password);
    await expectHeading(page, 'Two-factor authentication');
    await screenshot(page, 'login-mfa');
    await page.getByLabel('Authentication code').fill(await freshTotp(state.totpSecret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await expectHeading(page, /Welcome/);
  });

  step('log in with a backup code', async () => {
    await ensureSignedIn(page);
    await signOut(page);
    await signInWithBackupCode(page, owner.email, owner.password);
  });

  step('link a trading account and complete the Kite hand-off', async () => {
    state.kiteApp = await registerKiteApp(`ZX${run.slice(-4).toUpperCase()}`);
    await ensureSignedIn(page);
    await page.goto('/trading-accounts');
    await expectHeading(page, 'Trading accounts');
    await page.getByRole('button', { name: 'Link account' }).click();
    await page.getByLabel('Kite client ID').waitFor();
    assert.equal(await page.getByLabel('Kite client ID').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Kite client ID').fill(state.kiteApp.user_id);
    await page.getByLabel('API key').fill(state.kiteApp.api_key);
    await page.getByLabel('API secret').fill(state.kiteApp.api_secret);
    await screenshot(page, 'trading-link-form');
    await page.getByRole('button', { name: 'Link account' }).click();
    const card = page.getByRole('listitem').filter({ hasText: state.kiteApp.user_id });
    await card.waitFor();
    await page.getByText(`Kite account ${state.kiteApp.user_id} was linked.`).waitFor();

    await card.getByRole('button', { name: 'Connect with Kite' }).click();
    await page.waitForURL((url) => url.pathname === '/trading-accounts' && !url.search.includes('request_token'), {
      timeout: 20_000,
    });
    await page.getByText('is connected for today.').waitFor();
    await card.getByText('Connected', { exact: true }).waitFor();
    await card.getByText(/^Connected until /).waitFor();
    await screenshot(page, 'trading-connected');

    await card.getByRole('button', { name: 'Verify' }).click();
    await page.getByText(`Kite confirmed ${state.kiteApp.user_id}`).waitFor();
  });

  step('share the account with a member, then remove them', async () => {
    // Accounts are shared only with verified users: register the member and verify by mail.
    const registered = await api('POST', '/v1/auth/register', member);
    assert.equal(registered.status, 201, JSON.stringify(registered.data));
    const verifyLink = await waitForLink(member.email, '/verify-email', { seen: seenLinks });
    const token = new URL(verifyLink, BASE_URL).searchParams.get('token');
    const verified = await api('POST', '/v1/auth/email/verify', { token });
    assert.equal(verified.status, 200, JSON.stringify(verified.data));
    await openTradingAccounts();
    const card = page.getByRole('listitem').filter({ hasText: state.kiteApp.user_id });
    await card.getByRole('button', { name: 'Share' }).click();
    await card.getByLabel('Their email').fill(member.email);
    await card.getByRole('checkbox', { name: /Trade/ }).check();
    await screenshot(page, 'trading-share');
    await card
      .getByRole('form', { name: /^Share / })
      .getByRole('button', { name: 'Share' })
      .click();
    await page.getByText(`with ${member.email}`).waitFor();
    await card.getByRole('button', { name: `Remove ${member.email}` }).click();
    // Removing someone asks first, then says what happened (no stale "Shared … with …").
    await page.getByRole('alertdialog').getByRole('button', { name: 'Remove access' }).click();
    await card.getByRole('button', { name: `Remove ${member.email}` }).waitFor({ state: 'detached' });
    await page.getByText(`${member.email} no longer has access to ${state.kiteApp.user_id}.`).waitFor();
    assert.equal(await page.getByText(`with ${member.email}`).count(), 0);
  });

  step('rotate credentials and unlink an account with confirmation', async () => {
    state.secondApp = await registerKiteApp(`ZY${run.slice(-4).toUpperCase()}`);
    const rotated = await registerKiteApp(state.secondApp.user_id);
    await openTradingAccounts();
    await page.getByRole('button', { name: 'Link an account' }).click();
    await page.getByLabel('Kite client ID').fill(state.secondApp.user_id);
    await page.getByLabel('API key').fill(state.secondApp.api_key);
    await page.getByLabel('API secret').fill(state.secondApp.api_secret);
    await page.getByRole('button', { name: 'Link account' }).click();
    const card = page.getByRole('listitem').filter({ hasText: state.secondApp.user_id });
    await card.waitFor();

    await card.getByRole('button', { name: 'Rotate credentials' }).click();
    await card.getByLabel('New API key').fill(rotated.api_key);
    await card.getByLabel('New API secret').fill(rotated.api_secret);
    await card.getByRole('button', { name: 'Save new credentials' }).click();
    await page.getByText(`New credentials for ${state.secondApp.user_id} were saved.`).waitFor();

    await card.getByRole('button', { name: 'Unlink' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    await screenshot(page, 'trading-unlink-confirm', { fullPage: false });
    await dialog.getByRole('button', { name: 'Unlink account' }).click();
    await card.waitFor({ state: 'detached' });
    await page.getByText(`Kite account ${state.secondApp.user_id} was unlinked`).waitFor();
    await screenshot(page, 'trading-accounts');
  });

  step('view the audit log with filters', async () => {
    await ensureSignedIn(page);
    await page.getByRole('link', { name: 'Activity' }).first().click();
    await expectHeading(page, 'Activity');
    await page.locator('tr[data-event-type="login.success"]').first().waitFor();
    await screenshot(page, 'audit');
    await page.getByRole('checkbox', { name: 'Sign-in', exact: true }).check();
    const today = new Date().toLocaleDateString('en-CA', { timeZone: 'Asia/Kolkata' });
    await page.getByLabel('From').fill(today);
    await page.getByLabel('To').fill(today);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForFunction(
      () =>
        document.querySelectorAll('tbody tr').length > 0 &&
        [...document.querySelectorAll('tbody tr')].every((row) =>
          /^(login\.|logout$|refresh\.|session\.)/.test(row.getAttribute('data-event-type') ?? ''),
        ),
    );
    await screenshot(page, 'audit-filtered');
  });

  step('change the password', async () => {
    const newPassword = `${owner.password}-Changed!`;
    await ensureSignedIn(page);
    await page.goto('/security');
    await page.getByRole('link', { name: 'Change password' }).click();
    await expectHeading(page, 'Change password');
    await page.getByLabel('Current password').fill('not-my-password-1A!');
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Confirm new password').fill(newPassword);
    await page.locator('[data-rule="strength"].rule--met').waitFor();
    await page.getByRole('button', { name: 'Change password' }).click();
    // The API's sentence stands next to the field it is about.
    await page.locator('[aria-invalid="true"][name="current_password"]').waitFor();
    await page.getByText('The current password is not correct.').waitFor();
    await screenshot(page, 'change-password-error');
    await page.getByLabel('Current password').fill(owner.password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Your password was changed').waitFor();
    await screenshot(page, 'change-password');
    owner.password = newPassword;
    await signOut(page);
    await ensureSignedIn(page);
  });

  step('reset a forgotten password through the email', async () => {
    await ensureSignedIn(page);
    await signOut(page);
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await expectHeading(page, 'Reset your password');
    await page.getByLabel('Email').fill(owner.email);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await expectHeading(page, 'Check your email');
    await screenshot(page, 'forgot-password');
    const link = await waitForLink(owner.email, '/reset-password', { seen: seenLinks });
    await page.goto(link);
    await expectHeading(page, 'Choose a new password');
    const newPassword = `Harbour-Willow-${run}-9!`;
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Confirm new password').fill(newPassword);
    await page.locator('[data-rule="strength"].rule--met').waitFor();
    await screenshot(page, 'reset-password');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await expectHeading(page, 'Password changed');
    owner.password = newPassword;
    // The link is single-use: opened again, it says so and never shows the form.
    await page.goto(link);
    await page.getByText('This link was already used').waitFor();
    assert.equal(await page.getByLabel('New password', { exact: true }).count(), 0);
    await ensureSignedIn(page);
  });

  step('see sessions and revoke another device', async () => {
    const phone = await newContext(browser, PHONE);
    cleanups.push(() => phone.close());
    {
      const phonePage = await phone.newPage();
      await ensureSignedIn(page);
      await ensureSignedIn(phonePage);
      await screenshot(phonePage, 'home-mobile');

      await page.getByRole('link', { name: 'Sessions' }).first().click();
      await expectHeading(page, 'Sessions');
      const list = page.getByRole('list', { name: 'Active sessions' });
      await list.waitFor();
      await page.waitForFunction(() => document.querySelectorAll('[aria-label="Active sessions"] > li').length >= 2);
      await list.getByText('This device').waitFor();
      await screenshot(page, 'sessions');
      const other = list.getByRole('listitem').filter({ hasNotText: 'This device' }).first();
      const before = await list.getByRole('listitem').count();
      await other.getByRole('button', { name: 'Revoke' }).click();
      await page.getByText(/^Signed out /).waitFor();
      assert.equal(await list.getByRole('listitem').count(), before - 1);

      // The phone's session is gone: its next refresh fails and it lands on the sign-in page.
      await phonePage.reload();
      await expectHeading(phonePage, 'Sign in');
    }
  });

  step('log out from all devices', async () => {
    const laptop = await newContext(browser);
    cleanups.push(() => laptop.close());
    {
      const laptopPage = await laptop.newPage();
      await ensureSignedIn(page);
      await ensureSignedIn(laptopPage);
      await page.goto('/sessions');
      await page.getByRole('button', { name: 'Sign out everywhere' }).click();
      const dialog = page.getByRole('alertdialog', { name: 'Sign out everywhere?' });
      await dialog.waitFor();
      await screenshot(page, 'sessions-sign-out-everywhere', { fullPage: false });
      await dialog.getByRole('button', { name: 'Sign out everywhere' }).click();
      await expectHeading(page, 'Sign in');
      await page.getByText('You have signed out on all devices.').waitFor();
      await screenshot(page, 'login-signed-out');
      await laptopPage.goto('/sessions');
      await expectHeading(laptopPage, 'Sign in');
      await page.goto('/');
      await expectHeading(page, 'Sign in');
    }
  });
});
