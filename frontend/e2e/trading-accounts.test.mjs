// Trading accounts in a real browser (the manual checklist of issue 6): linking a Kite account
// and the Kite hand-off, then rotating credentials and unlinking with confirmation.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import { expectHeading, screenshot } from './support.mjs';
import { ensureSignedIn, featureBrowser, kiteUserId, registerKiteApp, verifiedUser } from './feature.mjs';

describe('Trading accounts', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'trading');
  });

  async function openTradingAccounts(page) {
    await ensureSignedIn(page, owner);
    if (new URL(page.url()).pathname !== '/trading-accounts') {
      await page.goto('/trading-accounts');
      await expectHeading(page, 'Trading accounts');
    }
  }

  spec.step('link a trading account and complete the Kite hand-off', async () => {
    const { page } = spec;
    const kiteApp = await registerKiteApp(kiteUserId('ZX'));
    await ensureSignedIn(page, owner);
    await page.goto('/trading-accounts');
    await expectHeading(page, 'Trading accounts');
    await page.getByRole('button', { name: 'Link account' }).click();
    await page.getByLabel('Kite client ID').waitFor();
    assert.equal(await page.getByLabel('Kite client ID').getAttribute('aria-invalid'), 'true');
    await page.getByLabel('Kite client ID').fill(kiteApp.user_id);
    await page.getByLabel('API key').fill(kiteApp.api_key);
    await page.getByLabel('API secret').fill(kiteApp.api_secret);
    await screenshot(page, 'trading-link-form');
    await page.getByRole('button', { name: 'Link account' }).click();
    const card = page.getByRole('listitem').filter({ hasText: kiteApp.user_id });
    await card.waitFor();
    await page.getByText(`Kite account ${kiteApp.user_id} was linked.`).waitFor();

    await card.getByRole('button', { name: 'Connect with Kite' }).click();
    await page.waitForURL((url) => url.pathname === '/trading-accounts' && !url.search.includes('request_token'), {
      timeout: 20_000,
    });
    await page.getByText('is connected for today.').waitFor();
    await card.getByText('Connected', { exact: true }).waitFor();
    await card.getByText(/^Connected until /).waitFor();
    await screenshot(page, 'trading-connected');

    await card.getByRole('button', { name: 'Verify' }).click();
    await page.getByText(`Kite confirmed ${kiteApp.user_id}`).waitFor();
  });

  spec.step('rotate credentials and unlink an account with confirmation', async () => {
    const { page } = spec;
    const secondApp = await registerKiteApp(kiteUserId('ZY'));
    const rotated = await registerKiteApp(secondApp.user_id);
    await openTradingAccounts(page);
    // Without an account yet (the step before failed), the link form is open already.
    const linkAnAccount = page.getByRole('button', { name: 'Link an account' });
    if (await linkAnAccount.isVisible()) await linkAnAccount.click();
    await page.getByLabel('Kite client ID').fill(secondApp.user_id);
    await page.getByLabel('API key').fill(secondApp.api_key);
    await page.getByLabel('API secret').fill(secondApp.api_secret);
    await page.getByRole('button', { name: 'Link account' }).click();
    const card = page.getByRole('listitem').filter({ hasText: secondApp.user_id });
    await card.waitFor();

    await card.getByRole('button', { name: 'Rotate credentials' }).click();
    await card.getByLabel('New API key').fill(rotated.api_key);
    await card.getByLabel('New API secret').fill(rotated.api_secret);
    await card.getByRole('button', { name: 'Save new credentials' }).click();
    await page.getByText(`New credentials for ${secondApp.user_id} were saved.`).waitFor();

    await card.getByRole('button', { name: 'Unlink' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    await screenshot(page, 'trading-unlink-confirm', { fullPage: false });
    await dialog.getByRole('button', { name: 'Unlink account' }).click();
    await card.waitFor({ state: 'detached' });
    await page.getByText(`Kite account ${secondApp.user_id} was unlinked`).waitFor();
    await screenshot(page, 'trading-accounts');
  });
});
