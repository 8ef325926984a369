// End-to-end browser flows for portcullis, driven through the system Chromium.
//
//   BASE_URL=http://127.0.0.1:18080 ACCESS_TTL_SECONDS=3 node flows.mjs
//
// Each scenario makes its own browser contexts and users, prints `ok - <name>` or
// `not ok - <name>: <reason>`, and the script exits 1 if any scenario failed.
import { createHmac } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:18080').replace(/\/+$/, '');
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || './screenshots';
const ACCESS_TTL_SECONDS = Number(process.env.ACCESS_TTL_SECONDS || 3);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple';
const NAV_TIMEOUT = 10_000;
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const EXPIRY_WAIT_MS = Math.round((ACCESS_TTL_SECONDS + 1.5) * 1000);

if (!Number.isFinite(ACCESS_TTL_SECONDS) || ACCESS_TTL_SECONDS <= 0) {
  console.error(`ACCESS_TTL_SECONDS must be a positive number, got ${process.env.ACCESS_TTL_SECONDS}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// helpers

class Failure extends Error {}

function check(condition, message) {
  if (!condition) throw new Failure(message);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let serial = 0;
/** A fresh username (3–32 chars of [a-z0-9._-]) that no earlier run can have taken. */
function uniqueName(tag) {
  serial += 1;
  return `${tag}-${Date.now().toString(36)}-${serial}${Math.random().toString(36).slice(2, 5)}`;
}

function pathOf(page) {
  return new URL(page.url()).pathname;
}

function describe(page) {
  const u = new URL(page.url());
  return `${u.pathname}${u.search}`;
}

/** A new context with the standard viewport; uncaught page errors are collected for checking. */
async function newContext(browser, contexts) {
  const context = await browser.newContext({ baseURL: BASE_URL, viewport: { width: 1000, height: 700 } });
  context.setDefaultNavigationTimeout(NAV_TIMEOUT);
  context.setDefaultTimeout(NAV_TIMEOUT);
  context.pageErrors = [];
  context.on('page', (page) => watchPage(context, page));
  contexts.push(context);
  return context;
}

function watchPage(context, page) {
  page.on('pageerror', (err) => context.pageErrors.push(`${describe(page)}: ${err.message}`));
}

async function cookie(context, name) {
  return (await context.cookies(BASE_URL)).find((c) => c.name === name);
}

/** Waits for the URL path to become `path`; the failure says where the page ended instead. */
async function expectPath(page, path, what) {
  try {
    await page.waitForURL((url) => url.pathname === path, { timeout: NAV_TIMEOUT });
  } catch {
    throw new Failure(`${what}: expected ${path}, page is at ${describe(page)} (title "${await page.title().catch(() => '?')}")`);
  }
}

async function expectDashboardFor(page, username, what) {
  await expectPath(page, '/dashboard', what);
  const h1 = page.locator('h1');
  try {
    await h1.filter({ hasText: `Signed in as ${username}` }).waitFor({ state: 'visible', timeout: NAV_TIMEOUT });
  } catch {
    throw new Failure(`${what}: dashboard h1 is "${await h1.first().textContent().catch(() => '?')}", expected "Signed in as ${username}"`);
  }
}

/** Submits a form by clicking its button and returns the POST's response (before redirects). */
async function submit(page, action, button) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === action, { timeout: NAV_TIMEOUT }),
    page.locator(button).click(),
  ]);
  await page.waitForLoadState('load');
  return response;
}

async function signUpThroughForm(page, username) {
  await page.goto('/signup');
  await page.locator('#username').fill(username);
  await page.locator('#email').fill(`${username}@example.com`);
  await page.locator('#password').fill(PASSWORD);
  const response = await submit(page, '/auth/signup', 'form[action="/auth/signup"] button[type="submit"]');
  check(response.status() === 303, `signup POST answered ${response.status()}, expected 303; page at ${describe(page)}: ${await errorText(page)}`);
  await expectDashboardFor(page, username, 'after signup');
}

async function fillLogin(page, username, password) {
  await page.goto('/login');
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
}

async function submitLogin(page) {
  return submit(page, '/auth/login', 'form[action="/auth/login"] button[type="submit"]');
}

async function logInThroughForm(page, username) {
  await fillLogin(page, username, PASSWORD);
  const response = await submitLogin(page);
  check(response.status() === 303, `login POST answered ${response.status()}, expected 303; page at ${describe(page)}: ${await errorText(page)}`);
  await expectDashboardFor(page, username, 'after login');
}

async function errorText(page) {
  const el = page.locator('#form-error');
  return (await el.count()) ? `form error "${(await el.textContent()).trim()}"` : 'no #form-error';
}

/** Counts POST /auth/refresh requests made by every page of `context` from now on. */
function countRefreshes(context) {
  const seen = { count: 0 };
  context.on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/auth/refresh') seen.count += 1;
  });
  return seen;
}

/** Waits until the access token has expired and the browser has dropped its cookie. */
async function outliveAccessToken(context) {
  check(await cookie(context, 'access_token'), 'no access_token cookie before waiting for expiry');
  check(await cookie(context, 'refresh_token'), 'no refresh_token cookie before waiting for expiry');
  await sleep(EXPIRY_WAIT_MS);
  check(!(await cookie(context, 'access_token')), `access_token cookie still present ${EXPIRY_WAIT_MS} ms later (Max-Age not ${ACCESS_TTL_SECONDS}?)`);
}

/** portcullis.fetch('/api/me') in the page, `count` calls at once, started at `startAt` (ms epoch). */
function fetchMe(page, count, startAt = 0) {
  return page.evaluate(async ({ count, startAt }) => {
    const wait = startAt - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    return Promise.all(Array.from({ length: count }, async () => {
      const res = await window.portcullis.fetch('/api/me');
      let body = null;
      try { body = await res.json(); } catch { /* not JSON */ }
      return { status: res.status, body };
    }));
  }, { count, startAt });
}

// ---------------------------------------------------------------------------------------------
// scenarios

const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });

scenario('sign up through /signup lands on the dashboard', async ({ fresh }) => {
  const page = await (await fresh()).newPage();
  const username = uniqueName('su');
  await signUpThroughForm(page, username);
  // Sessions read as devices and times for people, the raw values one hover away.
  const device = page.locator('tr[data-session] td.device span[title]').first();
  const words = (await device.textContent()).trim();
  check(words && !words.includes('Mozilla'), `the device reads "${words}", expected words`);
  check((await device.getAttribute('title')).includes('Mozilla'), 'the raw user agent is not in the title');
  const when = page.locator('tr[data-session] time').first();
  check((await when.textContent()).trim() === 'just now', `the sign-in time reads "${await when.textContent()}"`);
  check(/^\d{4}-\d{2}-\d{2}T/.test(await when.getAttribute('datetime')), 'the <time> has no RFC 3339 datetime');
  check(await page.locator('[data-whoami]').count() === 0, 'a diagnostic line is still on the dashboard');
  check(await page.locator('tr[data-session]').count() === 1, `expected 1 session row, found ${await page.locator('tr[data-session]').count()}`);
});

scenario('sign in through /login lands on the dashboard', async ({ fresh }) => {
  const username = uniqueName('li');
  await signUpThroughForm(await (await fresh()).newPage(), username);

  const context = await fresh();
  const page = await context.newPage();
  await fillLogin(page, username, PASSWORD);
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'login.png') });
  const response = await submitLogin(page);
  check(response.status() === 303, `login POST answered ${response.status()}, expected 303: ${await errorText(page)}`);
  await expectDashboardFor(page, username, 'after login');
  check(await cookie(context, 'access_token'), 'no access_token cookie after login');
  check(await cookie(context, 'refresh_token'), 'no refresh_token cookie after login');
  const rows = await page.locator('tr[data-session]').count();
  check(rows === 2, `expected 2 session rows (signup + login), found ${rows}`);
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard.png') });
});

scenario('wrong password keeps the login form with an error', async ({ fresh }) => {
  const username = uniqueName('wp');
  await signUpThroughForm(await (await fresh()).newPage(), username);

  const context = await fresh();
  const page = await context.newPage();
  await fillLogin(page, username, `${PASSWORD}-wrong`);
  const response = await submitLogin(page);
  check(response.status() === 401, `login POST with a wrong password answered ${response.status()}, expected 401`);
  check(pathOf(page) !== '/dashboard', 'a wrong password reached the dashboard');
  const error = page.locator('#form-error');
  check(await error.isVisible(), `#form-error not visible; page at ${describe(page)}`);
  const message = (await error.textContent()).trim();
  check(message.length > 0, '#form-error is empty');
  check(await page.locator('#password').isVisible(), 'the login form is not shown again');
  const typed = await page.locator('#username').inputValue();
  check(typed === username, `#username holds "${typed}", expected "${username}"`);
  check(!(await cookie(context, 'access_token')), 'an access_token cookie was set for a wrong password');
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'login-failed.png') });
});

scenario('a page that outlives its access token still loads', async ({ fresh }) => {
  const context = await fresh();
  const page = await context.newPage();
  const username = uniqueName('ex');
  await signUpThroughForm(page, username);
  const before = (await cookie(context, 'refresh_token')).value;
  await outliveAccessToken(context);
  const response = await page.reload();
  check(response && response.status() === 200, `reload answered ${response && response.status()}`);
  await expectDashboardFor(page, username, 'reload after expiry');
  check(await cookie(context, 'access_token'), 'the transparent refresh set no new access_token cookie');
  const after = await cookie(context, 'refresh_token');
  check(after && after.value !== before, 'the transparent refresh did not rotate the refresh_token cookie');
});

scenario('five parallel script calls after expiry are refreshed by the server, once', async ({ fresh }) => {
  const context = await fresh();
  const page = await context.newPage();
  const username = uniqueName('p5');
  await signUpThroughForm(page, username);
  await outliveAccessToken(context);

  const refreshes = countRefreshes(context);
  const firstAnswers = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname === '/api/me') firstAnswers.push(r.status());
  });
  const results = await fetchMe(page, 5);
  const statuses = results.map((r) => r.status);
  check(statuses.every((s) => s === 200), `portcullis.fetch statuses ${JSON.stringify(statuses)}, expected five 200s`);
  check(results.every((r) => r.body && r.body.username === username), `an /api/me body is not ${username}: ${JSON.stringify(results.map((r) => r.body))}`);
  // The refresh cookie rides along: the server rotates it (one rotation, the others inside the
  // reuse grace) and answers every call at once, with no 401 and no script-side refresh.
  check(firstAnswers.length === 5 && firstAnswers.every((s) => s === 200), `expected five direct 200s, /api/me answers were ${JSON.stringify(firstAnswers)}`);
  check(refreshes.count === 0, `${refreshes.count} requests to /auth/refresh, expected none`);
  await page.reload();
  await expectDashboardFor(page, username, 'reload after the parallel calls (no theft alarm)');
});

scenario('two tabs refreshing at once do not sign the user out', async ({ fresh }) => {
  const context = await fresh();
  const first = await context.newPage();
  const username = uniqueName('tt');
  await signUpThroughForm(first, username);
  const second = await context.newPage();
  await second.goto('/dashboard');
  await expectDashboardFor(second, username, 'second tab');
  await outliveAccessToken(context);

  const startAt = Date.now() + 300;
  const [a, b] = await Promise.all([fetchMe(first, 1, startAt), fetchMe(second, 1, startAt)]);
  check(a[0].status === 200 && b[0].status === 200, `tab statuses ${a[0].status} and ${b[0].status} (bodies ${JSON.stringify(a[0].body)} / ${JSON.stringify(b[0].body)}), expected 200 and 200`);
  for (const [label, page] of [['first', first], ['second', second]]) {
    await page.reload();
    await expectDashboardFor(page, username, `${label} tab reload after the refresh`);
  }
});

scenario('log out lands on /login and the dashboard is closed', async ({ fresh }) => {
  const context = await fresh();
  const page = await context.newPage();
  const username = uniqueName('lo');
  await signUpThroughForm(page, username);
  const oldRefresh = await cookie(context, 'refresh_token');

  await submit(page, '/auth/logout', 'main form[action="/auth/logout"] button[type="submit"]');
  await expectPath(page, '/login', 'after log out');
  await page.goto('/dashboard');
  await expectPath(page, '/login', 'visiting /dashboard after log out');

  // The server must have ended the session, not only told the browser to forget it.
  const replay = await fresh();
  await replay.addCookies([{ name: oldRefresh.name, value: oldRefresh.value, url: BASE_URL, httpOnly: true, sameSite: 'Strict' }]);
  const replayPage = await replay.newPage();
  await replayPage.goto('/dashboard');
  await expectPath(replayPage, '/login', 'the logged-out refresh token replayed on /dashboard');
});

scenario('log out everywhere from a second browser ends the first', async ({ fresh }) => {
  const username = uniqueName('la');
  const a = await (await fresh()).newPage();
  await signUpThroughForm(a, username);
  const b = await (await fresh()).newPage();
  await logInThroughForm(b, username);

  await submit(b, '/auth/logout-all', '#logout-all');
  await expectPath(b, '/login', 'B after log out everywhere');
  await a.goto('/dashboard');
  await expectPath(a, '/login', 'A visiting /dashboard after B logged out everywhere');
});

scenario('an admin forces a user out everywhere; the user\'s next page load lands on /login', async ({ fresh }) => {
  const admin = process.env.ADMIN_USERNAME;
  check(admin, 'ADMIN_USERNAME is not set (the Rust wrapper creates the admin)');
  const username = uniqueName('victim');
  const user = await (await fresh()).newPage();
  await signUpThroughForm(user, username);

  const adminPage = await (await fresh()).newPage();
  await fillLogin(adminPage, admin, process.env.ADMIN_PASSWORD || PASSWORD);
  const login = await submitLogin(adminPage);
  check(login.status() === 303, `admin login answered ${login.status()}: ${await errorText(adminPage)}`);
  await adminPage.goto(`/admin?q=${encodeURIComponent(username)}`);
  await adminPage.locator(`td a:text-is("${username}")`).click();
  await adminPage.waitForURL((url) => url.pathname.startsWith('/admin/users/'));
  const sessions = await adminPage.locator('tr[data-session]').count();
  check(sessions === 1, `the admin sees ${sessions} sessions of ${username}, expected 1`);
  await adminPage.screenshot({ path: join(SCREENSHOT_DIR, 'admin-user.png'), fullPage: true });
  const userPage = new URL(adminPage.url()).pathname;

  await adminPage.locator('#logout-everywhere').click();
  await adminPage.waitForURL((url) => url.pathname === `${userPage}/logout-all`);
  const done = await submit(adminPage, `${userPage}/logout-all`, '#confirm-logout-all');
  check(done.status() === 303, `the forced logout answered ${done.status()}`);
  await expectPath(adminPage, userPage, 'the admin back on the user page');
  check((await adminPage.locator('tr[data-session]').count()) === 0, 'the user page still lists sessions');

  // The user's browser is still open on the dashboard; its next page load must sign in again.
  await user.reload();
  await expectPath(user, '/login', 'the forced-out user reloading /dashboard');
});

/** Polls the server's mail outbox for a reset mail to `email`; returns the link's token. */
async function waitForResetToken(outbox, email) {
  for (let i = 0; i < 100; i += 1) {
    for (const name of readdirSync(outbox, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name)) {
      const text = readFileSync(join(outbox, name), 'utf8');
      const match = text.includes(`To: ${email}`) && text.match(/\/reset\?token=([A-Za-z0-9_-]{43})/);
      if (match) return match[1];
    }
    await sleep(100);
  }
  throw new Failure(`no reset mail to ${email} in ${outbox}`);
}

scenario('a forgotten password is reset through the mailed link', async ({ fresh }) => {
  const outbox = process.env.MAIL_OUTBOX_DIR;
  check(outbox, 'MAIL_OUTBOX_DIR is not set (the Rust wrapper passes the server\'s outbox)');
  const username = uniqueName('forgot');
  const email = `${username}@example.com`;
  const newPassword = 'a fresh passphrase after the reset';
  await signUpThroughForm(await (await fresh()).newPage(), username);

  const page = await (await fresh()).newPage();
  await page.goto('/login');
  await page.locator('a[href="/forgot"]').click();
  await expectPath(page, '/forgot', 'the "forgot your password" link');
  await page.locator('#email').fill(email);
  const asked = await submit(page, '/auth/password/forgot', 'form[action="/auth/password/forgot"] button[type="submit"]');
  check(asked.status() === 303, `forgot answered ${asked.status()}`);
  await expectPath(page, '/login', 'after asking for a reset link');

  const token = await waitForResetToken(outbox, email);
  await page.goto(`/reset?token=${token}`);
  await page.locator('#new_password').fill(newPassword);
  const reset = await submit(page, '/auth/password/reset', 'form[action="/auth/password/reset"] button[type="submit"]');
  check(reset.status() === 303, `reset answered ${reset.status()}: ${await errorText(page)}`);
  await expectPath(page, '/login', 'after choosing the new password');

  await fillLogin(page, username, newPassword);
  const login = await submitLogin(page);
  check(login.status() === 303, `sign-in with the new password answered ${login.status()}: ${await errorText(page)}`);
  await expectDashboardFor(page, username, 'signed in with the new password');
});

/** An authenticator app's code (RFC 6238: SHA-1, 6 digits, 30 s) for the step `offset` from now. */
function totpCode(base32Secret, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32Secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const mac = createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

scenario('an authenticator app is set up on /account and asked for at the next sign-in', async ({ fresh }) => {
  const username = uniqueName('totp');
  const page = await (await fresh()).newPage();
  await signUpThroughForm(page, username);
  await page.goto('/account');
  await page.locator('#totp_password').fill(PASSWORD);
  await submit(page, '/auth/mfa/totp', '#start-totp');
  check(await page.locator('figure.qr svg').count() === 1, 'no QR code on the enrolment page');
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'mfa-enrol.png'), fullPage: true });
  const secret = (await page.locator('#totp-secret').textContent()).trim();
  await page.locator('#code').fill(totpCode(secret));
  const confirmed = await submit(page, '/auth/mfa/totp/confirm', '#confirm-totp');
  check(confirmed.status() === 200, `confirming answered ${confirmed.status()}: ${await errorText(page)}`);
  const codes = await page.locator('#recovery-codes li').count();
  check(codes === 10, `${codes} recovery codes shown, expected 10`);
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'mfa-recovery-codes.png'), fullPage: true });

  const other = await (await fresh()).newPage();
  await fillLogin(other, username, PASSWORD);
  const password = await submitLogin(other);
  check(password.status() === 200, `the password step answered ${password.status()}, expected the code page (200)`);
  check(await other.locator('form[action="/auth/login/mfa"] #code').count() === 1, 'no code field after the password');
  await other.screenshot({ path: join(SCREENSHOT_DIR, 'mfa-code.png') });
  await other.locator('#code').fill(totpCode(secret, 1));
  const done = await submit(other, '/auth/login/mfa', '#submit-code');
  check(done.status() === 303, `the code step answered ${done.status()}: ${await errorText(other)}`);
  await expectDashboardFor(other, username, 'after the code');
});

scenario('a passkey added on /account signs in from /login without a password', async ({ fresh }) => {
  check(new URL(BASE_URL).hostname === 'localhost', `WebAuthn needs a host name; BASE_URL is ${BASE_URL}`);
  const username = uniqueName('pk');
  const context = await fresh();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  await signUpThroughForm(page, username);
  await page.goto('/account');
  await page.locator('#passkey_name').fill('Test key');
  await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/passkeys/register/finish', { timeout: NAV_TIMEOUT }),
    page.locator('#add-passkey').click(),
  ]).then(async ([finish]) => {
    if (finish.status() !== 201) throw new Failure(`register/finish answered ${finish.status()}: ${await finish.text()}`);
  });
  await page.locator('ul.passkeys li', { hasText: 'Test key' }).waitFor({ timeout: NAV_TIMEOUT });
  await page.screenshot({ path: join(SCREENSHOT_DIR, 'account-passkeys.png'), fullPage: true });

  await context.clearCookies();
  await page.goto('/login');
  const [finish] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/passkeys/login/finish', { timeout: NAV_TIMEOUT }),
    page.locator('#passkey-login').click(),
  ]);
  if (finish.status() !== 200) throw new Failure(`login/finish answered ${finish.status()}: ${await finish.text()}`);
  await expectDashboardFor(page, username, 'after signing in with the passkey');
});

/** axe-core's WCAG 2.2 A/AA rules on the page as it is: the violations, one line each. */
async function axeViolations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'] },
  }));
  return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
}

/** At a phone's width: whether the page scrolls sideways, and controls smaller than 24×24 px. */
async function phoneProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    if (document.documentElement.scrollWidth > window.innerWidth + 1) {
      problems.push(`scrolls sideways (${document.documentElement.scrollWidth} > ${window.innerWidth})`);
    }
    for (const el of document.querySelectorAll('button, input:not([type=hidden]), select, a.button, summary')) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue; // not shown
      if (box.width < 24 || box.height < 24) problems.push(`${el.outerHTML.slice(0, 60)} is ${Math.round(box.width)}×${Math.round(box.height)}`);
    }
    return problems;
  });
}

scenario('every page passes axe-core (WCAG 2.2 A/AA) and fits a phone', async ({ browser, contexts }) => {
  // The suite injects axe-core as a script tag, which the pages' CSP would refuse.
  const context = await browser.newContext({ baseURL: BASE_URL, viewport: { width: 1000, height: 700 }, bypassCSP: true });
  context.setDefaultTimeout(NAV_TIMEOUT);
  context.pageErrors = [];
  contexts.push(context);
  const failures = [];
  let checked = 0;
  async function audit(page, label, shots) {
    const violations = await axeViolations(page);
    if (violations.length) failures.push(`${label}: ${violations.join('; ')}`);
    await page.setViewportSize({ width: 390, height: 844 });
    const phone = await phoneProblems(page);
    if (phone.length) failures.push(`${label} at 390×844: ${phone.slice(0, 4).join('; ')}`);
    if (shots) await page.screenshot({ path: join(SCREENSHOT_DIR, `${shots}-phone.png`), fullPage: true });
    await page.setViewportSize({ width: 1000, height: 700 });
    if (shots) await page.screenshot({ path: join(SCREENSHOT_DIR, `${shots}-desktop.png`), fullPage: true });
    checked += 1;
  }
  const visit = async (page, path, label, shots) => { await page.goto(path); await audit(page, label || path, shots); };

  const page = await context.newPage();
  for (const path of ['/login', '/signup', '/forgot', '/reset?token=x']) await visit(page, path);
  await visit(page, '/no-such-page', 'the 404 page');
  await fillLogin(page, 'nobody-here', 'a wrong password');
  await submitLogin(page);
  await audit(page, 'the login form with an error');
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  if (focused !== 'password') failures.push(`after a wrong password the focus is on "${focused}", expected the password field`);

  const username = uniqueName('a11y');
  await signUpThroughForm(page, username);
  await visit(page, '/dashboard', '/dashboard', 'dashboard');
  await visit(page, '/account');
  await visit(page, '/account/delete');
  await page.goto('/account');
  await page.locator('#totp_password').fill(PASSWORD);
  await submit(page, '/auth/mfa/totp', '#start-totp');
  await audit(page, 'the authenticator set-up page');
  await page.locator('#code').fill('000000');
  await submit(page, '/auth/mfa/totp/confirm', '#confirm-totp');
  await audit(page, '/account with a wrong code');
  await page.goto('/account');
  await page.locator('#totp_password').fill(PASSWORD);
  await submit(page, '/auth/mfa/totp', '#start-totp');
  const secret = (await page.locator('#totp-secret').textContent()).trim();
  await page.locator('#code').fill(totpCode(secret));
  await submit(page, '/auth/mfa/totp/confirm', '#confirm-totp');
  await audit(page, 'the recovery codes page');

  await context.clearCookies();
  await fillLogin(page, username, PASSWORD);
  await submitLogin(page);
  await audit(page, 'the code page');
  await page.locator('#code').fill('000000');
  await submit(page, '/auth/login/mfa', '#submit-code');
  await audit(page, 'the code page with an error');

  await context.clearCookies();
  await fillLogin(page, process.env.ADMIN_USERNAME, process.env.ADMIN_PASSWORD || PASSWORD);
  await submitLogin(page);
  await visit(page, '/admin');
  await visit(page, '/admin/audit');
  await page.goto(`/admin?q=${encodeURIComponent(username)}`);
  await page.locator(`td a:text-is("${username}")`).click();
  await page.waitForURL((url) => url.pathname.startsWith('/admin/users/'));
  const userPath = new URL(page.url()).pathname;
  await visit(page, userPath, 'the admin user page', 'admin-user');
  await visit(page, `${userPath}/logout-all`, 'the logout-all confirmation');
  await visit(page, `${userPath}/mfa/reset`, 'the second-factor reset confirmation');
  check(failures.length === 0, failures.join('\n#   '));
  return `axe-core and the phone checks passed on ${checked} pages`;
});

// ---------------------------------------------------------------------------------------------
// runner

async function main() {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const started = Date.now();
  let browser;
  let passed = 0;
  let failed = 0;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    console.log(`1..${scenarios.length}`);
    for (const { name, fn } of scenarios) {
      const contexts = [];
      try {
        const note = await fn({ fresh: () => newContext(browser, contexts), browser, contexts });
        const errors = contexts.flatMap((c) => c.pageErrors);
        check(errors.length === 0, `uncaught page errors: ${errors.join('; ')}`);
        console.log(`ok - ${name}`);
        if (note) console.log(`# ${note}`);
        passed += 1;
      } catch (err) {
        // eslint-disable-next-line no-control-regex
        const reason = (err instanceof Failure ? err.message : (err && err.stack) || String(err)).replace(/\x1b\[[0-9;]*m/g, '');
        console.log(`not ok - ${name}: ${reason.split('\n').join('\n#   ')}`);
        failed += 1;
      } finally {
        await Promise.all(contexts.map((c) => c.close().catch(() => {})));
      }
    }
  } catch (err) {
    console.log(`not ok - launching Chromium: ${(err && err.message) || err}`);
    failed += 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  console.log(`# ${((Date.now() - started) / 1000).toFixed(1)} s against ${BASE_URL}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed === scenarios.length ? 0 : 1;
}

await main();
