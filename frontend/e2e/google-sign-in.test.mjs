// "Sign in with Google" in a real browser (issue 16, part 3), against the stack of
// scripts/e2e_stack.py, whose "Google" is the local OpenID Connect stand-in
// (service/tests/standins/oidc.py, approving at once as the user set through its control
// endpoint): a new Google user gets an account and sees the identity on Security (it cannot be
// unlinked: no password); a trader with a password links Google from Security and unlinks it;
// a Google account whose e-mail is a trader's asks for that password before linking.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  api,
  expectHeading,
  launchBrowser,
  newContext,
  screenshot,
  signIn,
  step as base,
  waitForLink,
} from './support.mjs';

const OIDC_URL = (process.env.E2E_OIDC_URL ?? '').replace(/\/$/, '');
const run = Date.now().toString(36);
const googler = { sub: `g-new-${run}`, email: `ravi.${run}@example.com`, name: 'Ravi Kumar' };
const trader = { name: 'Meera Iyer', email: `meera.${run}@example.com`, password: `Harbour-Ledger-${run}-53` };

let browser;
let context;
let page;

const step = (name, fn) => base(name, fn, { getBrowser: () => browser });

/** Who signs in at the stand-in next. */
async function nextGoogleUser(user) {
  const response = await fetch(`${OIDC_URL}/_standin/user`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email_verified: true, ...user }),
  });
  assert.equal(response.status, 200);
}

async function continueWithGoogle(p) {
  await p.goto('/login');
  await expectHeading(p, 'Sign in');
  await p.getByRole('button', { name: 'Continue with Google' }).click();
}

/** Forget this browser's session (its refresh cookie); the next page load is signed out. */
async function signOut() {
  await context.clearCookies();
}

describe('Sign in with Google', { concurrency: false }, () => {
  before(async () => {
    assert.ok(OIDC_URL, 'E2E_OIDC_URL is not set: run through scripts/e2e_stack.py');
    const registered = await api('POST', '/v1/auth/register', trader);
    assert.equal(registered.status, 201, JSON.stringify(registered.data));
    const link = await waitForLink(trader.email, '/verify-email');
    const verified = await api('POST', '/v1/auth/email/verify', {
      token: new URL(link, 'http://x').searchParams.get('token'),
    });
    assert.equal(verified.status, 200);
    browser = await launchBrowser();
    context = await newContext(browser);
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
  });

  step('a new Google user gets an account and sees the identity on Security', async () => {
    await nextGoogleUser(googler);
    await continueWithGoogle(page);
    await expectHeading(page, /Welcome, Ravi/);
    await page.goto('/security');
    const card = page.getByRole('region', { name: 'Sign-in with other accounts' });
    await card.getByText(googler.email).waitFor();
    await card.getByText('This is your only way to sign in').waitFor();
    assert.equal(await card.getByRole('button', { name: /^Unlink/ }).isDisabled(), true);
    await screenshot(page, 'google-only-account-security');
    await signOut();
  });

  step('a trader links Google from Security after re-entering the password, then unlinks it', async () => {
    await signIn(page, trader.email, trader.password);
    await expectHeading(page, /Welcome, Meera/);
    await page.goto('/security');
    const card = page.getByRole('region', { name: 'Sign-in with other accounts' });
    await card.getByText('No other account is linked').waitFor();
    await nextGoogleUser({ sub: `g-link-${run}`, email: `meera.google.${run}@example.com`, name: 'Meera I' });
    await card.getByRole('button', { name: 'Link Google' }).click();
    await card.getByLabel('Your password').fill(trader.password);
    await card.getByRole('button', { name: 'Continue to Google' }).click();
    await page.waitForURL(/\/security$/);
    const linkedCard = page.getByRole('region', { name: 'Sign-in with other accounts' });
    await linkedCard.getByText(/is linked: you can sign in with it/).waitFor();
    await linkedCard.getByText(`meera.google.${run}@example.com`).waitFor();
    await screenshot(page, 'google-linked-on-security');

    await linkedCard.getByRole('button', { name: `Unlink Google meera.google.${run}@example.com` }).click();
    await page.getByRole('alertdialog', { name: 'Unlink Google?' }).getByRole('button', { name: 'Unlink' }).click();
    await linkedCard.getByText(/is unlinked/).waitFor();
    await linkedCard.getByText('No other account is linked').waitFor();
    await signOut();
  });

  step("a Google account with a trader's e-mail links only with that trader's password", async () => {
    await nextGoogleUser({ sub: `g-same-${run}`, email: trader.email, name: 'Meera Iyer' });
    await continueWithGoogle(page);
    await expectHeading(page, 'Link Google to your account');
    await page.getByLabel('Password of your Quantagro account').fill('Not-the-password-1');
    await page.getByRole('button', { name: 'Link Google and sign in' }).click();
    await page.getByText('The password is not correct.').first().waitFor();
    await page.getByLabel('Password of your Quantagro account').fill(trader.password);
    await page.getByRole('button', { name: 'Link Google and sign in' }).click();
    await expectHeading(page, /Welcome, Meera/);
    await signOut();

    // From now on Google signs the trader in directly.
    await nextGoogleUser({ sub: `g-same-${run}`, email: trader.email, name: 'Meera Iyer' });
    await continueWithGoogle(page);
    await expectHeading(page, /Welcome, Meera/);
  });
});
