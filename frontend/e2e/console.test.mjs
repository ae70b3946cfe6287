// The console as a trader meets it (issue 14): plain words, no dead ends, a phone that works.
// Each describe block has its own trader and setup. Every screen is checked with axe-core
// (zero serious or critical violations) and kept as a desktop (1366×860) and phone (390×844)
// screenshot under test-results/screenshots. The login page's first load is measured against
// budgets: load time, JS shipped, layout shift.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import AxeBuilder from '@axe-core/playwright';
import {
  api,
  BASE_URL,
  linkStandInAccount,
  PHONE,
  expectHeading,
  freshTotp,
  launchBrowser,
  newContext,
  screenshot,
  signIn,
  step as base,
  traderWithActiveKiteAccount,
  waitForLink,
} from './support.mjs';

const DESKTOP = { viewport: { width: 1366, height: 860 } };
const BUDGET = { loadMs: 3000, jsBytes: 1_200_000, cls: 0.02 };
const run = Date.now().toString(36);
let browser;
const step = (name, fn) => base(name, fn, { getBrowser: () => browser });

async function verifiedTrader(tag) {
  const trader = {
    name: `Trader ${tag}`,
    email: `${tag}.${run}@example.com`,
    password: `Monsoon-Ledger-${run}-${tag}-47`,
  };
  const registered = await api('POST', '/v1/auth/register', trader);
  assert.equal(registered.status, 201, JSON.stringify(registered.data));
  const link = await waitForLink(trader.email, '/verify-email');
  const token = new URL(link, BASE_URL).searchParams.get('token');
  assert.equal((await api('POST', '/v1/auth/email/verify', { token })).status, 200);
  const login = await api('POST', '/v1/auth/login', { email: trader.email, password: trader.password });
  return { ...trader, token: login.data.access_token, verifyLink: link };
}

/** A fresh browser context (desktop unless told), signed in as `trader` when given. */
async function openPage(options = DESKTOP, trader = null) {
  const context = await newContext(browser, options);
  const page = await context.newPage();
  if (trader) {
    await signIn(page, trader.email, trader.password);
    await page.waitForURL((url) => !url.pathname.startsWith('/login'));
  }
  return { context, page };
}

/** axe-core on the page as it is now: no serious or critical violation. */
async function checkA11y(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `axe on ${name}`,
  );
}

/** Axe + a screenshot, on desktop and on a phone, of `path` (signed in as `trader` when given). */
async function everyScreen(path, name, { trader, ready } = {}) {
  for (const [label, options] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ]) {
    const { context, page } = await openPage(options, trader);
    try {
      await page.goto(path);
      if (ready) await ready(page);
      await page.waitForLoadState('networkidle');
      await checkA11y(page, `${name} (${label})`);
      await screenshot(page, `${name}-${label}`);
    } finally {
      await context.close();
    }
  }
}

describe('Console budgets and accessibility', { concurrency: false }, () => {
  let trader;
  before(async () => {
    browser = await launchBrowser();
    trader = await verifiedTrader('axe');
  });
  after(async () => browser?.close());

  step('the login page loads within budget, ships bounded JS and does not shift', async () => {
    const { context, page } = await openPage();
    let jsBytes = 0;
    page.on('response', async (response) => {
      if (response.request().resourceType() === 'script')
        jsBytes += (await response.body().catch(() => Buffer.alloc(0))).length;
    });
    await page.addInitScript(() => {
      window.__cls = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__cls += entry.value;
      }).observe({ type: 'layout-shift', buffered: true });
    });
    const started = Date.now();
    await page.goto('/login');
    await expectHeading(page, 'Sign in');
    const loadMs = Date.now() - started;
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(500);
    const cls = await page.evaluate(() => window.__cls);
    console.log(`login first load: ${loadMs} ms to the heading, ${jsBytes} bytes of JS, CLS ${cls.toFixed(4)}`);
    assert.ok(loadMs < BUDGET.loadMs, `login page took ${loadMs} ms`);
    assert.ok(jsBytes < BUDGET.jsBytes, `login page shipped ${jsBytes} bytes of JS`);
    assert.ok(cls <= BUDGET.cls, `layout shift ${cls}`);
    await context.close();
  });

  step('every signed-out screen passes axe', async () => {
    await everyScreen('/login', 'login', { ready: (p) => expectHeading(p, 'Sign in') });
    await everyScreen('/register', 'register');
    await everyScreen('/forgot-password', 'forgot-password');
  });

  step('every signed-in screen passes axe', async () => {
    for (const [path, name] of [
      ['/', 'home'],
      ['/profile', 'profile'],
      ['/security', 'security'],
      ['/sessions', 'sessions'],
      ['/audit', 'activity'],
      ['/trading-accounts', 'trading-accounts'],
      ['/change-password', 'change-password'],
    ]) {
      await everyScreen(path, name, { trader, ready: (p) => p.getByRole('heading', { level: 1 }).first().waitFor() });
    }
  });
});

describe('Links from e-mail are checked before any form (item 7)', { concurrency: false }, () => {
  let trader;
  before(async () => {
    browser = await launchBrowser();
    trader = await verifiedTrader('links');
  });
  after(async () => browser?.close());

  step('a used reset link says so and never shows the form; a replaced one says which', async () => {
    const seen = new Set();
    await api('POST', '/v1/auth/password/reset-request', { email: trader.email });
    const first = await waitForLink(trader.email, '/reset-password', { seen });
    await api('POST', '/v1/auth/password/reset-request', { email: trader.email });
    const second = await waitForLink(trader.email, '/reset-password', { seen });
    const { context, page } = await openPage();
    await page.goto(first);
    await page.getByText('This link was replaced by a newer e-mail').waitFor();
    assert.equal(await page.getByLabel('New password').count(), 0);
    await screenshot(page, 'reset-replaced-desktop');

    const token = new URL(second, BASE_URL).searchParams.get('token');
    trader.password = `${trader.password}-new`;
    assert.equal((await api('POST', '/v1/auth/password/reset', { token, new_password: trader.password })).status, 200);
    await page.goto(second);
    await page.getByText('This link was already used').waitFor();
    assert.equal(await page.getByLabel('New password').count(), 0);
    await checkA11y(page, 'used reset link');
    await context.close();
  });

  step('a verification link opened again says the e-mail is already verified', async () => {
    const { context, page } = await openPage(PHONE);
    await page.goto(trader.verifyLink);
    await page.getByText('Your e-mail is already verified').waitFor();
    await checkA11y(page, 'verify again');
    await screenshot(page, 'verify-already-phone');
    await context.close();
  });
});

describe('MFA step has no dead ends (item 5)', { concurrency: false }, () => {
  let trader;
  let secret;
  let backup;
  before(async () => {
    browser = await launchBrowser();
    trader = await verifiedTrader('mfa');
    const setup = await api('POST', '/v1/mfa/totp/setup', {}, { token: trader.token });
    secret = setup.data.secret;
    const enabled = await api(
      'POST',
      '/v1/mfa/totp/enable',
      { code: await freshTotp(secret) },
      { token: trader.token },
    );
    assert.equal(enabled.status, 200, JSON.stringify(enabled.data));
    backup = enabled.data.backup_codes;
  });
  after(async () => browser?.close());

  step('attempts left from the third wrong code; after the fifth one button that keeps the e-mail', async () => {
    const { context, page } = await openPage();
    await signIn(page, trader.email, trader.password);
    await expectHeading(page, 'Two-factor authentication');
    for (let i = 1; i <= 5; i += 1) {
      await page.getByLabel('Authentication code').fill('000000');
      const answered = page.waitForResponse((r) => r.url().endsWith('/v1/auth/mfa/verify'));
      await page.getByRole('button', { name: 'Verify' }).click();
      assert.equal((await answered).status(), 401);
      if (i === 3) await page.getByText(/2 attempts left/).waitFor();
      // The page empties the field after each answer: type the next code only after that.
      if (i < 5)
        await page.waitForFunction(
          () =>
            document.querySelector('input[name="code"]')?.value === '' &&
            !document.querySelector('button[aria-busy="true"]'),
        );
    }
    const again = page.getByRole('button', { name: 'Sign in again' });
    await again.waitFor();
    assert.equal(await page.getByLabel('Authentication code').count(), 0);
    await screenshot(page, 'mfa-dead-desktop');
    await again.click();
    await expectHeading(page, 'Sign in');
    assert.equal(await page.getByLabel('Email').inputValue(), trader.email);
    assert.equal(await page.getByLabel('Keep me signed in').isChecked(), false);
    await context.close();
  });

  step('a backup-code sign-in says how many codes are left', async () => {
    const { context, page } = await openPage();
    await signIn(page, trader.email, trader.password);
    await page.getByRole('button', { name: 'Use a backup code instead' }).click();
    await page.getByLabel('Backup code').fill(backup[0]);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText(`${backup.length - 1} backup codes left`).waitFor();
    await screenshot(page, 'backup-codes-left-desktop');
    await context.close();
  });
});

describe('Trading accounts speak plainly (items 1, 3, 8)', { concurrency: false }, () => {
  let trader;
  let accountId;
  before(async () => {
    browser = await launchBrowser();
    trader = await verifiedTrader('kite');
    const linked = await linkStandInAccount(trader.email, trader.token);
    const app = linked.app;
    accountId = linked.accountId;
    trader.brokerId = app.user_id;
  });
  after(async () => browser?.close());

  step('an account without a session: Connect is the primary action, Verify waits for it', async () => {
    const { context, page } = await openPage(DESKTOP, trader);
    await page.goto('/trading-accounts');
    const card = page.getByRole('listitem').filter({ hasText: trader.brokerId });
    await card.getByText('Not connected yet').waitFor();
    assert.match(await card.getByRole('button', { name: 'Connect with Kite' }).getAttribute('class'), /btn--primary/);
    assert.ok(await card.getByRole('button', { name: 'Verify' }).isDisabled());
    await card.getByText('Connect with Kite first').waitFor();
    // biome-ignore lint/performance/useDomNodeTextContent: only what a trader sees counts (collapsed details are hidden)
    const text = await page.locator('main').innerText();
    assert.doesNotMatch(text, /\/kite\/|GET |POST |_[a-z]+_|Token valid until/);
    await screenshot(page, 'accounts-not-connected-desktop');

    await page.getByRole('button', { name: 'Link an account' }).click();
    await page.getByText('Redirect URL for your Kite Connect app').waitFor();
    await page.getByText(`${BASE_URL}/trading-accounts/kite/callback`).waitFor();
    await page.getByRole('button', { name: 'Copy redirect URL' }).waitFor();
    await screenshot(page, 'link-form-desktop');
    await context.close();
  });

  step('a cancelled Kite hand-off offers Retry', async () => {
    const { context, page } = await openPage(DESKTOP, trader);
    await page.goto(`/trading-accounts/kite/callback?status=cancelled&account_id=${accountId}`);
    await expectHeading(page, 'Kite is not connected');
    await page.getByRole('button', { name: 'Retry with Kite' }).waitFor();
    await checkA11y(page, 'kite callback cancelled');
    await screenshot(page, 'kite-cancelled-desktop');
    await context.close();
  });

  step('on a phone each card keeps one primary button; the rest are in a menu', async () => {
    const { context, page } = await openPage(PHONE, trader);
    await page.goto('/trading-accounts');
    const card = page.getByRole('listitem').filter({ hasText: trader.brokerId });
    await card.getByRole('button', { name: 'Connect with Kite' }).waitFor();
    assert.equal(await card.getByRole('button', { name: 'Unlink' }).isVisible(), false);
    await screenshot(page, 'accounts-phone');
    await card.getByRole('button', { name: 'More actions' }).click();
    await card.getByRole('button', { name: 'Unlink' }).waitFor();
    await screenshot(page, 'accounts-phone-menu');
    await context.close();
  });
});

describe('Activity reads as sentences (item 2)', { concurrency: false }, () => {
  let trader;
  before(async () => {
    browser = await launchBrowser();
    trader = await verifiedTrader('audit');
    for (let i = 0; i < 3; i += 1) {
      await api('POST', '/v1/auth/refresh', {}); // no cookie: harmless; real refreshes come from the browser
    }
  });
  after(async () => browser?.close());

  step('refreshes hidden by default, filters in the URL, codes only in Details', async () => {
    const { context, page } = await openPage(DESKTOP, trader);
    await page.reload(); // a page load refreshes the session
    await page.goto('/audit');
    await page.getByRole('table').waitFor();
    assert.equal(await page.locator('tr[data-event-type="token.refreshed"]').count(), 0);
    await page
      .getByText(/Signed in on .+ from /)
      .first()
      .waitFor();
    assert.equal(await page.getByText('login.success').first().isVisible(), false);
    await page.getByLabel('Show session refreshes').check();
    await page.waitForURL(/refreshes=1/);
    await page.locator('tr[data-event-type="token.refreshed"]').first().waitFor();
    await page.getByRole('checkbox', { name: 'Sign-in', exact: true }).check();
    await page.getByRole('checkbox', { name: 'Account', exact: true }).check();
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/type=signin&type=account/);
    await page.reload();
    assert.ok(await page.getByRole('checkbox', { name: 'Account', exact: true }).isChecked());
    await page.locator('tr[data-event-type="user.registered"]').waitFor();
    await screenshot(page, 'activity-filtered-desktop');
    await context.close();

    const { context: phone, page: p } = await openPage(PHONE, trader);
    await p.goto('/audit');
    await p.getByRole('table').waitFor();
    assert.equal(await p.locator('thead').evaluate((el) => el.getBoundingClientRect().height <= 1), true);
    assert.equal(
      await p
        .locator('tbody tr')
        .first()
        .evaluate((el) => getComputedStyle(el).display),
      'block',
    );
    await screenshot(p, 'activity-phone');
    await phone.close();
  });
});

describe('Sharing says who owns what and what happened (item 4)', { concurrency: false }, () => {
  let owner;
  let member;
  let account;
  before(async () => {
    browser = await launchBrowser();
    owner = { name: 'Owner Four', email: `owner4.${run}@example.com`, password: `Monsoon-Ledger-${run}-own-47` };
    account = await traderWithActiveKiteAccount(owner);
    owner.token = (
      await api('POST', '/v1/auth/login', { email: owner.email, password: owner.password })
    ).data.access_token;
    member = await verifiedTrader('member');
    const shared = await api(
      'POST',
      `/v1/trading-accounts/${account.accountId}/members`,
      { email: member.email, permissions: ['view', 'trade'] },
      { token: owner.token },
    );
    assert.equal(shared.status, 201, JSON.stringify(shared.data));
  });
  after(async () => browser?.close());

  step('a member sees the owner and Leave; after the owner unlinks, Verify says it is no longer shared', async () => {
    const { context, page } = await openPage(DESKTOP, member);
    await page.goto('/trading-accounts');
    const card = page.getByRole('listitem').filter({ hasText: account.brokerId });
    await card.getByText(`Owner: Owner Four (${owner.email})`).waitFor();
    await card.getByRole('button', { name: 'Leave' }).waitFor();
    assert.equal(await card.getByRole('button', { name: /^Remove / }).count(), 0);
    await checkA11y(page, 'member view');
    await screenshot(page, 'member-view-desktop');

    const unlinked = await api('DELETE', `/v1/trading-accounts/${account.accountId}`, undefined, {
      token: owner.token,
    });
    assert.ok([200, 204].includes(unlinked.status), JSON.stringify(unlinked.data));
    await card.getByRole('button', { name: 'Verify' }).click();
    await page.getByText(`This account (${account.brokerId}) is no longer shared with you`).waitFor();
    await card.waitFor({ state: 'detached' });
    assert.equal(await page.getByText('No such trading account').count(), 0);
    await screenshot(page, 'member-gone-desktop');
    await context.close();
  });
});
