// Trading safety in a real browser (issue 13, parts 1–3), against the stack of
// scripts/e2e_stack.py: an order through the backend needs a fresh second factor — the console
// asks for a code in a dialog, steps up, swaps the token in and retries the order once; then the
// trader freezes the account from Security, is signed out, sees the frozen state after signing
// in again, and unfreezes with password and code.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  expectHeading,
  freshTotp,
  launchBrowser,
  newContext,
  screenshot,
  signIn,
  startTotpSetup,
  step as base,
  traderWithActiveKiteAccount,
} from './support.mjs';

const run = Date.now().toString(36);
const trader = { name: 'Kavya Nair', email: `kavya.${run}@example.com`, password: `Monsoon-Ledger-${run}-47` };

let browser;
let page;
let totpSecret;
const orders = [];

const step = (name, fn) => base(name, fn, { getBrowser: () => browser });

async function placeOrder(p) {
  const card = p.getByRole('region', { name: 'Place an order' });
  await card.getByLabel('Instrument').fill('NSE:TCS');
  await card.getByLabel('Quantity').fill('5');
  await card.getByRole('button', { name: 'Place order' }).click();
  return card;
}

describe('Trading safety', { concurrency: false }, () => {
  before(async () => {
    await traderWithActiveKiteAccount(trader);
    browser = await launchBrowser();
    const context = await newContext(browser);
    page = await context.newPage();
    page.on('response', (response) => {
      if (/\/api\/trading-accounts\/[^/]+\/orders$/.test(response.url())) orders.push(response.status());
    });
  });

  after(async () => {
    await browser?.close();
  });

  step('an order asks for a code once, steps up and goes through', async () => {
    await signIn(page, trader.email, trader.password);
    await expectHeading(page, /Welcome, Kavya/);

    // Two-factor authentication on, from Security (this session has no recent second factor).
    await page.goto('/security');
    await startTotpSetup(page, trader.password);
    totpSecret = (await page.getByTestId('totp-secret').textContent()).replace(/\s+/g, '');
    await page.getByLabel('Code from the app').fill(await freshTotp(totpSecret));
    await page.getByRole('button', { name: 'Turn on', exact: true }).click();
    await page.getByLabel('I have saved these codes somewhere safe').check();
    await page.getByRole('button', { name: 'Done' }).click();

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Platform' }).click();
    await expectHeading(page, 'Platform');
    const card = await placeOrder(page);

    const dialog = page.getByRole('dialog', { name: 'Confirm it’s you' });
    await dialog.waitFor();
    const code = dialog.getByLabel('Authenticator or backup code');
    assert.equal(await code.evaluate((el) => el === document.activeElement), true, 'focus is not on the code field');
    await screenshot(page, 'step-up-dialog');
    await code.fill(await freshTotp(totpSecret));
    await dialog.getByRole('button', { name: 'Confirm' }).click();

    await card.getByText('Order accepted.').waitFor();
    await card.getByText(/Buy 5 NSE:TCS/).waitFor();
    await dialog.waitFor({ state: 'detached' });
    assert.deepEqual(orders, [403, 201], `order responses: ${orders.join(', ')}`);

    // Within five minutes of the step-up, the next order asks for nothing.
    await card.getByRole('button', { name: 'Place order' }).click();
    await page.waitForFunction(() => document.querySelectorAll('[role="dialog"]').length === 0);
    await page.waitForTimeout(500);
    assert.deepEqual(orders, [403, 201, 201]);
    await screenshot(page, 'order-accepted');
  });

  step('freeze from Security signs out, shows the frozen state, and unfreezes with both factors', async () => {
    await page.goto('/security');
    const freeze = page.getByRole('region', { name: 'Emergency freeze' });
    await freeze.getByLabel('Use my password').check();
    await freeze.getByLabel('Your password').fill(trader.password);
    await freeze.getByRole('button', { name: 'Freeze my account' }).click();
    await page
      .getByRole('alertdialog', { name: 'Freeze your account?' })
      .getByRole('button', { name: 'Freeze now' })
      .click();
    await expectHeading(page, 'Sign in');
    await page.getByText(/Your account is frozen and every device is signed out/).waitFor();

    await signIn(page, trader.email, trader.password);
    await page.getByLabel('Authentication code').fill(await freshTotp(totpSecret));
    await page.getByRole('button', { name: 'Verify' }).click();
    const banner = page.getByRole('region', { name: 'Account frozen' });
    await banner.waitFor();
    await page.goto('/platform');
    await page.getByText('Trading is frozen.').waitFor();
    await screenshot(page, 'platform-frozen');

    await page.goto('/security');
    const unfreeze = page.getByRole('region', { name: 'Emergency freeze' });
    await unfreeze.getByLabel('Your password').fill(trader.password);
    await unfreeze.getByLabel('Code from your app, or a backup code').fill(await freshTotp(totpSecret));
    await unfreeze.getByRole('button', { name: 'Unfreeze my account' }).click();
    await banner.waitFor({ state: 'detached' });
    await unfreeze.getByRole('button', { name: 'Freeze my account' }).waitFor();
  });
});
