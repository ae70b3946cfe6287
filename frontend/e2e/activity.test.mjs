// The Activity page in a real browser (the manual checklist of issue 6): the audit log after a
// sign-in, filtered to sign-in events of today.
import { before, describe } from 'node:test';
import { expectHeading, screenshot } from './support.mjs';
import { ensureSignedIn, featureBrowser, verifiedUser } from './feature.mjs';

describe('Activity', { concurrency: false }, () => {
  const spec = featureBrowser();
  let owner;

  before(async () => {
    owner = await verifiedUser('Asha Rao', 'activity');
  });

  spec.step('view the audit log with filters', async () => {
    const { page } = spec;
    await ensureSignedIn(page, owner);
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
});
