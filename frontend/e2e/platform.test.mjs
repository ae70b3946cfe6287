// The Platform page against the real platform: the user service, the Kite stand-in and the
// backend, ticker and alert services of examples/, all started by scripts/e2e_stack.py
// (E2E_BASE_URL, E2E_MAIL_DIR, E2E_KITE_URL, E2E_TICKER_URL). Issue 10, §4: quotes arrive,
// and "sign out everywhere" in a second browser context stops them and the page says why.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import {
  PHONE,
  TICKER_URL,
  expectHeading,
  launchBrowser,
  newContext,
  screenshot,
  signIn,
  step as base,
  traderWithActiveKiteAccount,
} from './support.mjs';

const run = Date.now().toString(36);
const trader = { name: 'Meera Iyer', email: `meera.${run}@example.com`, password: `Saffron-Ledger-${run}-31` };
/** The ticker closes a revoked session's socket within 2 s (docs/api.md §8); allow for a busy machine. */
const SIGN_OUT_BUDGET_MS = 5_000;

let browser;
/** The trader's desktop browser: the Platform page that must learn about the sign-out. */
let desktop;
let page;
const quoteSocket = { url: null, quotes: 0, closedAt: null, opened: 0 };
const cspErrors = [];

/** Follows the page's quote socket as the browser sees it: its URL, quote frames, its close. */
function watchQuoteSocket(p) {
  p.on('websocket', (ws) => {
    if (!ws.url().includes('/ws/quotes')) return;
    quoteSocket.opened += 1;
    quoteSocket.url = ws.url();
    quoteSocket.closedAt = null;
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload === 'string' && payload.includes('"type":"quote"')) quoteSocket.quotes += 1;
    });
    ws.on('close', () => {
      quoteSocket.closedAt = Date.now();
    });
  });
  p.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) cspErrors.push(message.text());
  });
}

/** The Platform page's rows that received at least `n` quotes. */
async function waitForQuoteUpdates(p, n) {
  await p.waitForFunction(
    (count) => [...document.querySelectorAll('tr[data-updates]')].some((row) => Number(row.dataset.updates) >= count),
    n,
    { timeout: 15_000 },
  );
}

const step = (name, fn) => base(name, fn, { getBrowser: () => browser });

describe('Platform page', { concurrency: false }, () => {
  let brokerId;

  before(async () => {
    ({ brokerId } = await traderWithActiveKiteAccount(trader));
    browser = await launchBrowser();
    desktop = await newContext(browser, { viewport: { width: 1366, height: 860 } });
    page = await desktop.newPage();
    watchQuoteSocket(page);
  });

  after(async () => {
    await browser?.close();
  });

  step('positions show, quotes stream, an alert is created', async () => {
    await signIn(page, trader.email, trader.password);
    await expectHeading(page, /Welcome, Meera/);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Platform' }).click();
    await expectHeading(page, 'Platform');

    const positions = page.getByRole('region', { name: 'Positions' });
    await positions.getByRole('table').waitFor();
    assert.ok((await positions.getByRole('row').count()) >= 2, 'no position rows');
    await positions.getByText('Total P&L').waitFor();

    const quotes = page.getByRole('region', { name: 'Live quotes' });
    await quotes.getByRole('table', { name: `Kite ${brokerId}` }).waitFor();
    await waitForQuoteUpdates(page, 2);
    assert.ok(quoteSocket.quotes >= 2, `only ${quoteSocket.quotes} quote frames`);
    await quotes.getByText('Quote stream: Live').waitFor();
    assert.ok(quoteSocket.url.startsWith(`${TICKER_URL}/ws/quotes`), quoteSocket.url);
    assert.ok(!/token=/.test(quoteSocket.url), 'the access token is in the WebSocket URL');

    const alerts = page.getByRole('region', { name: 'Price alerts' });
    await alerts.getByText(/No alerts yet/).waitFor();
    await alerts.getByLabel('Instrument').fill('NSE:INFY');
    await alerts.getByLabel('When the price goes').selectOption('above');
    await alerts.getByLabel('Price (₹)').fill('1500');
    await alerts.getByLabel('Note').fill('Breakout above the range');
    await alerts.getByRole('button', { name: 'Create alert' }).click();
    await alerts.getByText('Alert created: NSE:INFY above ₹1,500.00.').waitFor();
    const list = alerts.getByRole('list', { name: 'Your alerts' });
    await list.getByRole('listitem').filter({ hasText: 'NSE:INFY above ₹1,500.00' }).waitFor();

    // Still there after a reload: it lives in the alert service, under this trader.
    await page.reload();
    await expectHeading(page, 'Platform');
    await list.getByRole('listitem').filter({ hasText: 'Breakout above the range' }).waitFor();
    await waitForQuoteUpdates(page, 2);
    assert.deepEqual(cspErrors, []);
    await screenshot(page, 'platform-desktop');
  });

  step('sign out everywhere on another device stops the quotes and the page says why', async () => {
    const phone = await newContext(browser, PHONE);
    const phonePage = await phone.newPage();
    await signIn(phonePage, trader.email, trader.password);
    await expectHeading(phonePage, /Welcome, Meera/);
    await phonePage.goto('/platform');
    await expectHeading(phonePage, 'Platform');
    await phonePage.getByRole('region', { name: 'Positions' }).getByRole('table').waitFor();
    await waitForQuoteUpdates(phonePage, 2);
    await phonePage.getByRole('region', { name: 'Price alerts' }).getByText('NSE:INFY above ₹1,500.00').waitFor();
    await screenshot(phonePage, 'platform-phone');
    // Nothing wider than the phone, not even inside a scrolling table.
    const overflow = await phonePage.evaluate(() =>
      [document.documentElement, ...document.querySelectorAll('.table-wrap')].map(
        (el) => el.scrollWidth - el.clientWidth,
      ),
    );
    assert.ok(
      overflow.every((px) => px <= 0),
      `wider than a 390px phone by ${overflow.join(', ')} px`,
    );

    await phonePage.goto('/sessions');
    await phonePage.getByRole('button', { name: 'Sign out everywhere' }).click();
    const dialog = phonePage.getByRole('alertdialog', { name: 'Sign out everywhere?' });
    const socketsBefore = quoteSocket.opened;
    assert.equal(quoteSocket.closedAt, null, 'the quote socket closed before the sign-out');
    const signedOutAt = Date.now();
    await dialog.getByRole('button', { name: 'Sign out everywhere' }).click();
    await expectHeading(phonePage, 'Sign in');

    // The desktop learns it from the ticker: 1008 "Session revoked" on its quote socket.
    const ended = page.getByRole('alert').filter({ hasText: 'You were signed out on another device.' });
    await ended.waitFor({ timeout: SIGN_OUT_BUDGET_MS });
    const noticedMs = Date.now() - signedOutAt;
    assert.ok(quoteSocket.closedAt, 'the quote socket is still open');
    const closedMs = quoteSocket.closedAt - signedOutAt;
    console.log(`# quote socket closed ${closedMs} ms after "sign out everywhere"; page said so after ${noticedMs} ms`);
    assert.ok(closedMs <= SIGN_OUT_BUDGET_MS, `the socket closed after ${closedMs} ms`);
    await page.getByRole('region', { name: 'Live quotes' }).getByText('Quote stream: Stopped').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Create alert' }).isDisabled(), true);

    // No reconnect loop: nothing new opens, nothing more arrives.
    const quotesAfterClose = quoteSocket.quotes;
    await page.waitForTimeout(2_500);
    assert.equal(quoteSocket.opened, socketsBefore, 'the page opened another quote socket');
    assert.equal(quoteSocket.quotes, quotesAfterClose, 'quotes kept arriving after the sign-out');
    await screenshot(page, 'platform-signed-out-desktop');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'platform-signed-out-phone');
    await page.setViewportSize({ width: 1366, height: 860 });
    await phone.close();

    // "Sign in again" comes back to the Platform page.
    await ended.getByRole('button', { name: 'Sign in again' }).click();
    await expectHeading(page, 'Sign in');
    await page.getByText('You were signed out on another device. Sign in again to continue.').waitFor();
    await page.getByLabel('Email').fill(trader.email);
    await page.getByLabel('Password', { exact: true }).fill(trader.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectHeading(page, 'Platform');
    await waitForQuoteUpdates(page, 1);
  });
});
