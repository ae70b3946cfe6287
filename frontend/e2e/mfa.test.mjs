// Two-factor authentication in a real browser (the manual checklist of issue 6): turning it on
// from Security, then signing in with a TOTP code and with a backup code. The sign-in steps use
// a user whose authenticator was added through the API, so they do not depend on the first.
// Then several named authenticators (issue 16): a second app beside the first, renamed, the
// first removed on its own, each change e-mailed, and the warning when few backup codes remain.
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import {
  api,
  expectHeading,
  freshTotp,
  newContext,
  readMails,
  screenshot,
  signIn,
  startTotpSetup,
  totp,
} from './support.mjs';
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

/** Waits for a mail to `to` whose subject is `subject` and whose text contains `text`. */
async function waitForMail(to, subject, text, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const found = (await readMails()).find(
      (mail) => mail.to.includes(to) && mail.subject === subject && mail.text.includes(text),
    );
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`no mail "${subject}" to ${to} containing "${text}" within ${timeout} ms`);
}

describe('Several named authenticators', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;
  let factor;

  before(async () => {
    owner = await verifiedUser('Ravi Menon', 'mfa-several');
    factor = await enableTotp(owner); // an authenticator app named "Phone"
  });

  spec.step('add a second app, rename it, and remove the first on its own', async () => {
    const { page } = spec;
    await signIn(page, owner.email, owner.password);
    await expectHeading(page, 'Two-factor authentication');
    await page.getByLabel('Authentication code').fill(await freshTotp(factor.secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await expectHeading(page, /Welcome/);

    await page.goto('/security');
    await expectHeading(page, 'Security');
    await startTotpSetup(page, owner.password, 'Tablet');
    const tablet = (await page.getByTestId('totp-secret').textContent()).replace(/\s+/g, '');
    // Each device accepts a time step once: the tablet may use the step the phone just used.
    await page.getByLabel('Code from the app').fill(totp(tablet));
    await page.getByRole('button', { name: 'Turn on', exact: true }).click();
    await page.getByText('Authenticator app “Tablet” added.').waitFor();
    assert.equal(await page.getByTestId('backup-codes').count(), 0, 'backup codes come only with the first factor');
    const list = page.getByRole('list', { name: 'Your authenticators' });
    await list.getByText('Tablet', { exact: true }).waitFor();
    await list.getByText('Phone', { exact: true }).waitFor();
    await screenshot(page, 'mfa-two-apps');

    await page.getByRole('button', { name: 'Rename Tablet' }).click();
    await page.getByLabel('New name for “Tablet”').fill('Old tablet');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Renamed to “Old tablet”.').waitFor();
    await waitForMail(
      owner.email,
      'A sign-in method of your Quantagro account was renamed',
      'is now called “Old tablet”',
    );

    await page.getByRole('button', { name: 'Remove Phone' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Remove “Phone”?' });
    await confirm.getByText('Your other authenticators and backup codes keep working.').waitFor();
    await confirm.getByRole('button', { name: 'Remove', exact: true }).click();
    // The console asks for the password again unless it did in the last few minutes.
    const again = page.getByRole('alertdialog', { name: 'Confirm it’s you' });
    const removed = page.getByText('“Phone” was removed.', { exact: true });
    await again.or(removed).first().waitFor();
    if (await again.isVisible()) {
      await again.getByLabel('Current password').fill(owner.password);
      await again.getByRole('button', { name: 'Continue' }).click();
    }
    await removed.waitFor();
    assert.deepEqual(await list.locator('.factor-list__name').allTextContents(), ['Old tablet']);
    await screenshot(page, 'mfa-one-app-left');
    await waitForMail(owner.email, 'A sign-in method was removed from your Quantagro account', '“Phone”');
  });

  spec.step('when three backup codes are left, the Security page and an e-mail say so', async () => {
    const { page } = spec;
    // Seven backup codes spent through the API: one at the sign-in, six to re-authenticate.
    const login = await api('POST', '/v1/auth/login', { email: owner.email, password: owner.password });
    assert.equal(login.data.status, 'mfa_required', JSON.stringify(login.data));
    const signedIn = await api('POST', '/v1/auth/mfa/verify', {
      session_token: login.data.session_token,
      code: factor.backupCodes.shift(),
    });
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.data));
    for (let spent = 1; spent < 7; spent += 1) {
      const proof = await api(
        'POST',
        '/v1/auth/reauthenticate',
        { code: factor.backupCodes.shift() },
        { token: signedIn.data.access_token },
      );
      assert.equal(proof.status, 200, JSON.stringify(proof.data));
    }
    await page.goto('/security');
    await expectHeading(page, 'Security');
    await page.getByTestId('backup-codes-remaining').getByText('3 backup codes left').waitFor();
    await page.getByText(/running out of backup codes/).waitFor();
    await screenshot(page, 'mfa-backup-codes-low');
    await waitForMail(owner.email, 'You are running out of backup codes', '3 backup codes');
  });
});
