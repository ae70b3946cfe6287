// Registration and e-mail verification in a real browser (the manual checklist of issue 6):
// live password feedback, a duplicate e-mail refused inline, the unverified banner, the link
// from the mail, and a reload that keeps the user signed in.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { expectHeading, screenshot, signIn, waitForLink } from './support.mjs';
import { featureBrowser, newUser } from './feature.mjs';

describe('Registration and e-mail verification', { concurrency: false }, () => {
  const spec = featureBrowser();
  const owner = newUser('Asha Rao', 'register');
  const seenLinks = new Set();

  spec.step('register with live password feedback', async () => {
    const { page } = spec;
    await page.goto('/register');
    await expectHeading(page, 'Create your account');
    await page.getByLabel('Full name').fill(owner.name);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password', { exact: true }).fill('weakpass');
    await page.locator('[data-rule="length"].rule--met').waitFor({ state: 'detached' });
    await page.getByLabel('Password', { exact: true }).fill(owner.password);
    await page.locator('[data-rule="strength"].rule--met').waitFor();
    await page.getByLabel('Confirm password').fill(owner.password);
    await screenshot(page, 'register');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expectHeading(page, 'Check your inbox');
    await screenshot(page, 'register-done');
  });

  spec.step('the API refuses a duplicate email with an inline error', async () => {
    const { page } = spec;
    await page.goto('/register');
    await page.getByLabel('Full name').fill(owner.name);
    await page.getByLabel('Email').fill(owner.email.toUpperCase());
    await page.getByLabel('Password', { exact: true }).fill(owner.password);
    await page.getByLabel('Confirm password').fill(owner.password);
    await page.locator('[data-rule="strength"].rule--met').waitFor();
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByLabel('Email').getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'register-duplicate');
  });

  spec.step('log in; the unverified banner resends; verify the email from the link', async () => {
    const { page } = spec;
    await signIn(page, owner.email, owner.password);
    await expectHeading(page, /Welcome, Asha/);
    const banner = page.getByRole('region', { name: 'Email verification' });
    await banner.waitFor();
    await screenshot(page, 'home-unverified');
    // The first mail (registration) and the resent one both carry a link; use the newest.
    await waitForLink(owner.email, '/verify-email', { seen: seenLinks });
    await banner.getByRole('button', { name: 'Resend email' }).click();
    await banner.getByText('A new link is on its way.').waitFor();
    const link = await waitForLink(owner.email, '/verify-email', { seen: seenLinks });
    await page.goto(link);
    await page.getByText('Your email address is verified.').waitFor();
    await screenshot(page, 'verify-email');
    await page.getByRole('link', { name: 'Go to your account' }).click();
    await expectHeading(page, /Welcome/);
    assert.equal(await page.getByRole('region', { name: 'Email verification' }).count(), 0);
  });

  spec.step('a reload keeps the user signed in (refresh cookie, token in memory only)', async () => {
    const { page, context } = spec;
    await page.reload();
    await expectHeading(page, /Welcome, Asha/);
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    );
    assert.ok(!/eyJ/.test(stored), 'a JWT was found in Web Storage');
    const cookies = await context.cookies();
    const refresh = cookies.find((cookie) => cookie.name === 'refresh_token');
    assert.ok(refresh, 'no refresh_token cookie');
    assert.equal(refresh.httpOnly, true);
    await screenshot(page, 'home');
  });
});
