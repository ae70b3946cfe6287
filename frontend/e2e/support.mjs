// Shared machinery of the end-to-end suite: the browser, screenshots, mail and TOTP.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

export const BASE_URL = (process.env.E2E_BASE_URL ?? 'http://127.0.0.1:8001').replace(/\/$/, '');
export const MAIL_DIR = process.env.E2E_MAIL_DIR ?? '';
export const KITE_URL = (process.env.E2E_KITE_URL ?? '').replace(/\/$/, '');
export const TICKER_URL = (process.env.E2E_TICKER_URL ?? 'ws://127.0.0.1:8080').replace(/\/$/, '');
export const SCREENSHOT_DIR = path.resolve(here, '..', 'test-results', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function launchBrowser() {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** An iPhone-sized browser (390 × 844) for the phone checks and screenshots. */
export const PHONE = {
  viewport: { width: 390, height: 844 },
  userAgent:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  isMobile: true,
  hasTouch: true,
};

export async function newContext(browser, options = {}) {
  const context = await browser.newContext({
    baseURL: BASE_URL,
    viewport: { width: 1280, height: 860 },
    locale: 'en-IN',
    timezoneId: 'Asia/Kolkata',
    ...options,
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  return context;
}

let shotNumber = 0;
/** Saves `NN-name.png` (full page unless told) under test-results/screenshots. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  shotNumber += 1;
  const file = path.join(SCREENSHOT_DIR, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
  // Let fonts, images and transitions settle.
  await page.evaluate(() => document.fonts?.ready).catch(() => undefined);
  await page.waitForTimeout(150);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/**
 * A test whose failure leaves `NN-FAILED-<name>-<context><page>.png` of every page open in
 * `getBrowser()` to look at; `finally` runs afterwards either way (closing extra contexts).
 */
export function step(name, fn, { getBrowser, finally: cleanUp = async () => undefined }) {
  test(name, async () => {
    try {
      await fn();
    } catch (error) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
      for (const [c, context] of (getBrowser()?.contexts() ?? []).entries()) {
        for (const [index, open] of context.pages().entries()) {
          await screenshot(open, `FAILED-${slug}-${c}${index}`).catch(() => undefined);
        }
      }
      throw error;
    } finally {
      await cleanUp();
    }
  });
}

// ---------------------------------------------------------------- mail (.eml files)

function decodeQuotedPrintable(text) {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < joined.length; i += 1) {
    const ch = joined[i];
    if (ch === '=' && /^[0-9A-Fa-f]{2}$/.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(ch, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function parseHeaders(block) {
  const headers = {};
  const unfolded = block.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const index = line.indexOf(':');
    if (index > 0) headers[line.slice(0, index).trim().toLowerCase()] = line.slice(index + 1).trim();
  }
  return headers;
}

function splitMessage(raw) {
  const match = raw.match(/\r?\n\r?\n/);
  if (!match) return { headers: parseHeaders(raw), body: '' };
  return { headers: parseHeaders(raw.slice(0, match.index)), body: raw.slice(match.index + match[0].length) };
}

/** The decoded text of every leaf part of a MIME message, concatenated. */
function mimeText(raw) {
  const { headers, body } = splitMessage(raw);
  const type = headers['content-type'] ?? 'text/plain';
  const boundary = type.match(/boundary="?([^";]+)"?/i)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    return body
      .split(`--${boundary}`)
      .slice(1)
      .filter((part) => !part.startsWith('--'))
      .map((part) => mimeText(part.replace(/^\r?\n/, '')))
      .join('\n');
  }
  const encoding = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return body;
}

export async function readMails() {
  if (!MAIL_DIR) throw new Error('E2E_MAIL_DIR is not set: start the suite with scripts/e2e_stack.py');
  const names = (await readdir(MAIL_DIR)).filter((name) => name.endsWith('.eml'));
  const mails = [];
  for (const name of names) {
    const file = path.join(MAIL_DIR, name);
    const raw = await readFile(file, 'utf8');
    const { headers } = splitMessage(raw);
    mails.push({
      file,
      mtime: (await stat(file)).mtimeMs,
      to: headers.to ?? '',
      subject: headers.subject ?? '',
      text: mimeText(raw),
    });
  }
  return mails.sort((a, b) => a.mtime - b.mtime || a.file.localeCompare(b.file));
}

/**
 * Waits for a mail to `to` containing a link to `linkPath` that was not seen before, and returns
 * the link (as a path + query on the app).
 */
export async function waitForLink(to, linkPath, { seen = new Set(), timeout = 20_000 } = {}) {
  const deadline = Date.now() + timeout;
  const pattern = new RegExp(`https?://[^\\s"'<>]+${linkPath.replace(/[/]/g, '\\/')}\\?token=[A-Za-z0-9_\\-.~%]+`, 'g');
  while (Date.now() < deadline) {
    for (const mail of (await readMails()).reverse()) {
      if (!mail.to.toLowerCase().includes(to.toLowerCase())) continue;
      for (const link of mail.text.match(pattern) ?? []) {
        if (seen.has(link)) continue;
        seen.add(link);
        const url = new URL(link);
        return `${url.pathname}${url.search}`;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`no new mail to ${to} with a ${linkPath} link within ${timeout} ms (mail dir ${MAIL_DIR})`);
}

// ---------------------------------------------------------------- TOTP (RFC 6238)

function base32Decode(input) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = input.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const index = alphabet.indexOf(ch);
    if (index < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 HOTP over the RFC 6238 time step (SHA-1, 30 s, 6 digits). */
export function totp(secret, step = Math.floor(Date.now() / 1000 / 30)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const hmac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = hmac[hmac.length - 1] & 0x0f;
  const code = (hmac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

let lastStep = -1;
/**
 * A code from a time step not used yet: the service accepts each step once (its last accepted
 * step must strictly increase), so a second code in the same 30 s waits for the next step.
 */
export async function freshTotp(secret) {
  let step = Math.floor(Date.now() / 1000 / 30);
  if (step <= lastStep) {
    const wait = (lastStep + 1) * 30_000 - Date.now() + 300;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    step = Math.floor(Date.now() / 1000 / 30);
  }
  // Avoid a code about to expire while it is typed and sent.
  if (30 - ((Date.now() / 1000) % 30) < 2) {
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    step = Math.floor(Date.now() / 1000 / 30);
  }
  lastStep = step;
  return totp(secret, step);
}

// ---------------------------------------------------------------- API helpers (Node side)

export async function api(method, urlPath, body, { token } = {}) {
  const headers = { 'Content-Type': 'application/json', Origin: BASE_URL };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${BASE_URL}${urlPath}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  return { status: response.status, data };
}

// ---------------------------------------------------------------- pages

export async function expectHeading(p, name) {
  await p.getByRole('heading', { level: 1, name }).waitFor();
}

export async function signIn(p, email, password) {
  await p.goto('/login');
  await expectHeading(p, 'Sign in');
  await p.getByLabel('Email').fill(email);
  await p.getByLabel('Password', { exact: true }).fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * On the Security page: "Add an authenticator app", name it, confirm the password (the
 * recent-authentication rule), and wait for the QR code and setup key.
 */
export async function startTotpSetup(p, password, name = 'Phone') {
  await p.getByRole('button', { name: 'Add an authenticator app' }).click();
  await p.getByLabel('Name', { exact: true }).fill(name);
  await p.getByRole('button', { name: 'Continue', exact: true }).click();
  const dialog = p.getByRole('alertdialog', { name: 'Confirm it’s you' });
  await dialog.getByLabel('Current password').fill(password);
  await dialog.getByRole('button', { name: 'Continue' }).click();
  await p.getByTestId('totp-secret').waitFor();
}

// ---------------------------------------------------------------- fixtures (API)

/** A Kite Connect app on the stand-in, linked through the API (no broker session yet). */
export async function linkStandInAccount(email, token) {
  assert.ok(KITE_URL, 'E2E_KITE_URL is not set');
  const app = await (
    await fetch(`${KITE_URL}/_standin/apps`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email }),
    })
  ).json();
  const linked = await api(
    'POST',
    '/v1/trading-accounts',
    { broker: 'kite', user_id_broker: app.user_id, api_key: app.api_key, api_secret: app.api_secret },
    { token },
  );
  assert.equal(linked.status, 201, JSON.stringify(linked.data));
  return { app, accountId: linked.data.account_id };
}

/** Registers `user` ({name, email, password}) and verifies the e-mail from the mailed link (the API). */
export async function registerVerified(user) {
  const registered = await api('POST', '/v1/auth/register', user);
  assert.equal(registered.status, 201, JSON.stringify(registered.data));
  const link = await waitForLink(user.email, '/verify-email');
  const verified = await api('POST', '/v1/auth/email/verify', {
    token: new URL(link, BASE_URL).searchParams.get('token'),
  });
  assert.equal(verified.status, 200, JSON.stringify(verified.data));
}

/** An access token for `user` (no second factor), from the API. */
export async function apiSignIn(user) {
  const login = await api('POST', '/v1/auth/login', { email: user.email, password: user.password });
  assert.equal(login.status, 200, JSON.stringify(login.data));
  return login.data.access_token;
}

/** Steers the Kite stand-in (test-only control plane): `{fail_status}`, `{delay}`, or expiring tokens. */
export async function kiteStandIn(what, body) {
  assert.ok(KITE_URL, 'E2E_KITE_URL is not set');
  const response = await fetch(`${KITE_URL}/_standin/${what}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.ok(response.ok, `the Kite stand-in refused ${what}`);
  return response.json();
}

/** Registers and verifies the trader, and links a Kite account connected for today (the API). */
export async function traderWithActiveKiteAccount(trader) {
  await registerVerified(trader);
  const token = await apiSignIn(trader);

  const { app, accountId } = await linkStandInAccount(trader.email, token);
  const loginUrl = await api('GET', `/v1/trading-accounts/${accountId}/kite/login-url`, undefined, { token });
  // The stand-in signs in at once and redirects back with the request token.
  const redirect = await fetch(loginUrl.data.login_url, { redirect: 'manual' });
  assert.equal(redirect.status, 302);
  const requestToken = new URL(redirect.headers.get('location')).searchParams.get('request_token');
  const session = await api(
    'POST',
    `/v1/trading-accounts/${accountId}/kite/session`,
    { request_token: requestToken },
    { token },
  );
  assert.equal(session.data?.status, 'active', JSON.stringify(session.data));
  return { brokerId: app.user_id, accountId, apiKey: app.api_key };
}
