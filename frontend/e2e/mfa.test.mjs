// Two-factor authentication in a real browser (the manual checklist of issue 6): turning it on
// from Security, then signing in with a TOTP code and with a backup code. The sign-in steps use
// a user whose authenticator was added through the API, so they do not depend on the first.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import { expectHeading, freshTotp, newContext, screenshot, signIn, startTotpSetup } from './support.mjs';
import { enableTotp, ensureSignedIn, featureBrowser, signOut, verifiedUser } from './feature.mjs';

describe('Turning on two-factor authentication', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'mfa-on');
  });

  spec.step('enable MFA with the code computed from the secret shown', async () => {
    const { page } = spec;
    await ensureSignedIn(page, owner);
    await page.goto('/security');
    await expectHeading(page, 'Security');
    await screenshot(page, 'security');
    await startTotpSetup(page, owner.password, 'Work phone');
    const secretText = await page.getByTestId('totp-secret').textContent();
    const totpSecret = secretText.replace(/\s+/g, '');
    assert.match(totpSecret, /^[A-Z2-7]{32,}$/);
    const qr = page.getByRole('img', { name: /QR code/ });
    assert.match(await qr.getAttribute('src'), /^data:image\//);
    await screenshot(page, 'mfa-setup');
    await page.getByLabel('Code from the app').fill(await freshTotp(totpSecret));
    await page.getByRole('button', { name: 'Turn on', exact: true }).click();
    const codes = page.getByTestId('backup-codes');
    await codes.waitFor();
    const backupCodes = (await codes.locator('code').allTextContents()).map((code) => code.trim());
    assert.equal(backupCodes.length, 10);
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
});

describe('Signing in with a second factor', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;
  let factor;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'mfa-login');
    factor = await enableTotp(owner);
  });

  /** A browser of its own for the step, closed after it. */
  async function freshPage() {
    const context = await newContext(spec.browser);
    spec.cleanups.push(() => context.close());
    return context.newPage();
  }

  spec.step('log in with a TOTP code, then log out', async () => {
    const page = await freshPage();
    await signIn(page, owner.email, owner.password);
    await expectHeading(page, 'Two-factor authentication');
    await screenshot(page, 'login-mfa');
    await page.getByLabel('Authentication code').fill(await freshTotp(factor.secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await expectHeading(page, /Welcome/);
    await signOut(page);
  });

  spec.step('log in with a backup code', async () => {
    const page = await freshPage();
    await signIn(page, owner.email, owner.password);
    await expectHeading(page, 'Two-factor authentication');
    await page.getByRole('button', { name: 'Use a backup code instead' }).click();
    const code = factor.backupCodes.shift();
    assert.ok(code, 'no backup code left');
    await page.getByLabel('Backup code').fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await expectHeading(page, /Welcome/);
  });
});
