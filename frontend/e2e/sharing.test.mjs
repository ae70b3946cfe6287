// Sharing a trading account in a real browser (the manual checklist of issue 6): the owner's
// account is linked and the member registered through the API, then the owner shares it and
// removes the member again, with confirmation.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import { apiSignIn, expectHeading, linkStandInAccount, screenshot } from './support.mjs';
import { ensureSignedIn, featureBrowser, verifiedUser } from './feature.mjs';

describe('Sharing a trading account', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;
  let member;
  let brokerId;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'share-owner');
    // Accounts are shared only with verified users.
    member = await verifiedUser('Ravi Kumar', 'share-member');
    ({
      app: { user_id: brokerId },
    } = await linkStandInAccount(owner.email, await apiSignIn(owner)));
  });

  spec.step('share the account with a member, then remove them', async () => {
    const { page } = spec;
    await ensureSignedIn(page, owner);
    await page.goto('/trading-accounts');
    await expectHeading(page, 'Trading accounts');
    const card = page.getByRole('listitem').filter({ hasText: brokerId });
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
    await page.getByText(`${member.email} no longer has access to ${brokerId}.`).waitFor();
    assert.equal(await page.getByText(`with ${member.email}`).count(), 0);
  });
});
