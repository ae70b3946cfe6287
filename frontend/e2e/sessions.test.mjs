// Sessions in a real browser (the manual checklist of issue 6): revoking another device (a
// phone), and signing out of every device. Each has its own user.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import { PHONE, expectHeading, newContext, screenshot } from './support.mjs';
import { ensureSignedIn, featureBrowser, verifiedUser } from './feature.mjs';

describe('Revoking another device', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'sessions-revoke');
  });

  spec.step('see sessions and revoke another device', async () => {
    const { page } = spec;
    const phone = await newContext(spec.browser, PHONE);
    spec.cleanups.push(() => phone.close());
    const phonePage = await phone.newPage();
    await ensureSignedIn(page, owner);
    await ensureSignedIn(phonePage, owner);
    await screenshot(phonePage, 'home-mobile');

    await page.getByRole('link', { name: 'Sessions' }).first().click();
    await expectHeading(page, 'Sessions');
    const list = page.getByRole('list', { name: 'Active sessions' });
    await list.waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[aria-label="Active sessions"] > li').length >= 2);
    await list.getByText('This device').waitFor();
    await screenshot(page, 'sessions');
    const other = list.getByRole('listitem').filter({ hasNotText: 'This device' }).first();
    const countBefore = await list.getByRole('listitem').count();
    await other.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText(/^Signed out /).waitFor();
    assert.equal(await list.getByRole('listitem').count(), countBefore - 1);

    // The phone's session is gone: its next refresh fails and it lands on the sign-in page.
    await phonePage.reload();
    await expectHeading(phonePage, 'Sign in');
  });
});

describe('Signing out everywhere', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'sessions-all');
  });

  spec.step('log out from all devices', async () => {
    const { page } = spec;
    const laptop = await newContext(spec.browser);
    spec.cleanups.push(() => laptop.close());
    const laptopPage = await laptop.newPage();
    await ensureSignedIn(page, owner);
    await ensureSignedIn(laptopPage, owner);
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
  });
});
