// Editing the profile in a real browser (the manual checklist of issue 6).
import { before, describe } from 'node:test';
import { expectHeading, screenshot } from './support.mjs';
import { ensureSignedIn, featureBrowser, verifiedUser } from './feature.mjs';

describe('Profile', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'profile');
  });

  spec.step('edit the profile', async () => {
    const { page } = spec;
    await ensureSignedIn(page, owner);
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
});
