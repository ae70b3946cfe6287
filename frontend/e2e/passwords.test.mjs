// Passwords in a real browser (the manual checklist of issue 6): changing it (the API's error
// next to its field first), and resetting a forgotten one through the e-mailed link, which
// works once. Each has its own user.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import { expectHeading, screenshot, waitForLink } from './support.mjs';
import { ensureSignedIn, featureBrowser, signOut, verifiedUser } from './feature.mjs';

describe('Changing the password', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'password-change');
  });

  spec.step('change the password', async () => {
    const { page } = spec;
    const newPassword = `${owner.password}-Changed!`;
    await ensureSignedIn(page, owner);
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
    await ensureSignedIn(page, owner);
  });
});

describe('Resetting a forgotten password', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'password-reset');
  });

  spec.step('reset a forgotten password through the email', async () => {
    const { page } = spec;
    await ensureSignedIn(page, owner);
    await signOut(page);
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await expectHeading(page, 'Reset your password');
    await page.getByLabel('Email').fill(owner.email);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await expectHeading(page, 'Check your email');
    await screenshot(page, 'forgot-password');
    const link = await waitForLink(owner.email, '/reset-password');
    await page.goto(link);
    await expectHeading(page, 'Choose a new password');
    const newPassword = `Harbour-Willow-${Date.now().toString(36)}-9!`;
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
    await ensureSignedIn(page, owner);
  });
});
