// Drives Debian's headless Chromium through the pages of a running tessera
// server: sign-in (by keyboard), the Security page, sessions, password
// change, sign-out, and the admin user list. Exits non-zero on failure.
//
// BASE_URL (http://localhost:PORT) and PASSWORD come from the Rust test that
// started the server and created admin@example.com and member@example.com.

import { chromium } from 'playwright-core';
import { watchCsp, cspViolations } from './csp.mjs';
import assert from 'node:assert/strict';

const BASE = process.env.BASE_URL;
const PASSWORD = process.env.PASSWORD;
assert.ok(BASE && PASSWORD, 'BASE_URL and PASSWORD must be set');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
watchCsp(browser);

let failed = false;
async function step(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (e) {
    failed = true;
    console.error(`not ok - ${name}\n${e.stack}`);
  }
}

async function signIn(page, email, password) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function noHorizontalScroll(page) {
  const [scroll, client] = await page.evaluate(() =>
    [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scroll <= client, `page scrolls sideways: ${scroll} > ${client}`);
}

const memberCtx = await browser.newContext();
const member = await memberCtx.newPage();

await step('sign-in form is usable by keyboard alone and keeps errors generic', async () => {
  await member.goto(`${BASE}/login`);
  // The email field takes focus on load (autofocus lands once the page has
  // loaded, so wait for it); Tab reaches the password; Enter submits.
  await member.waitForFunction(() => document.activeElement && document.activeElement.id === 'email',
    null, { timeout: 5000 });
  await member.keyboard.type('member@example.com');
  await member.keyboard.press('Tab');
  assert.equal(await member.evaluate(() => document.activeElement.id), 'password');
  await member.keyboard.type('not the password');
  const [resp] = await Promise.all([member.waitForNavigation(), member.keyboard.press('Enter')]);
  assert.equal(resp.status(), 401);
  const alert = member.getByRole('alert');
  assert.equal((await alert.textContent()).trim(), 'The email address or password is incorrect.');
  assert.equal(await member.getByLabel('Email address').inputValue(), 'member@example.com');
});

await step('signing in lands on the Security page with this session listed', async () => {
  await signIn(member, 'member@example.com', PASSWORD);
  await member.waitForURL(`${BASE}/security`);
  assert.equal(await member.getByRole('heading', { level: 1 }).textContent(), 'Security');
  assert.equal(await member.getByText('This device').count(), 1);
  // Members get no admin link.
  assert.equal(await member.getByRole('link', { name: 'Users' }).count(), 0);
});

await step('pages fit a phone screen', async () => {
  const phoneCtx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const phone = await phoneCtx.newPage();
  await phone.goto(`${BASE}/login`);
  await noHorizontalScroll(phone);
  await signIn(phone, 'member@example.com', PASSWORD);
  await phone.waitForURL(`${BASE}/security`);
  await noHorizontalScroll(phone);
  await phoneCtx.close();
});

await step('signing out another session from the Security page ends it', async () => {
  const otherCtx = await browser.newContext({ userAgent: 'Mozilla/5.0 (Windows NT 10.0) Gecko/20100101 Firefox/131.0' });
  const other = await otherCtx.newPage();
  await signIn(other, 'member@example.com', PASSWORD);
  await other.waitForURL(`${BASE}/security`);
  await member.reload();
  const button = member.getByRole('button', { name: 'Sign out Firefox on Windows' });
  await button.click();
  await member.waitForURL(/notice=session-ended/);
  assert.match(await member.getByRole('status').textContent(), /signed out/);
  await other.goto(`${BASE}/security`);
  assert.ok(other.url().endsWith('/login'), `expected the login page, got ${other.url()}`);
  await otherCtx.close();
});

await step('changing the password needs the current one and keeps this session', async () => {
  await member.getByLabel('Current password').fill('wrong current password');
  await member.getByLabel('New password').fill('brand new passphrase 42');
  await member.getByRole('button', { name: 'Change password' }).click();
  assert.match(await member.getByRole('alert').textContent(), /current password is not correct/);

  await member.getByLabel('Current password').fill(PASSWORD);
  await member.getByLabel('New password').fill('brand new passphrase 42');
  await member.getByRole('button', { name: 'Change password' }).click();
  await member.waitForURL(/notice=password-changed/);
  assert.match(await member.getByRole('status').textContent(), /password was changed/);
  await member.reload();
  assert.ok(member.url().includes('/security'), 'still signed in after the change');
});

await step('signing out returns to the sign-in page; the new password works', async () => {
  await member.getByRole('button', { name: 'Sign out' }).last().click();
  await member.waitForURL(`${BASE}/login`);
  await member.goto(`${BASE}/security`);
  assert.ok(member.url().endsWith('/login'));
  await signIn(member, 'member@example.com', 'brand new passphrase 42');
  await member.waitForURL(`${BASE}/security`);
});

await step('members are refused the admin page', async () => {
  const resp = await member.goto(`${BASE}/admin/users`);
  assert.equal(resp.status(), 403);
});

await step('a sysadmin lists, creates and deactivates users', async () => {
  const ctx = await browser.newContext();
  const admin = await ctx.newPage();
  await signIn(admin, 'admin@example.com', PASSWORD);
  await admin.waitForURL(`${BASE}/security`);
  await admin.getByRole('link', { name: 'Users' }).click();
  await admin.waitForURL(`${BASE}/admin/users`);
  assert.ok(await admin.getByRole('cell', { name: 'member@example.com', exact: true }).isVisible());

  await admin.getByLabel('Email address').fill('newcomer@example.com');
  await admin.getByLabel('Display name').fill('New Comer');
  await admin.getByLabel('Role').selectOption('org-admin');
  await admin.getByRole('button', { name: 'Create user' }).click();
  await admin.waitForURL(/notice=created/);
  const row = admin.getByRole('row', { name: /newcomer@example\.com/ });
  assert.match(await row.textContent(), /org-admin/);

  await admin.getByLabel('Email address').fill('newcomer@example.com');
  await admin.getByRole('button', { name: 'Create user' }).click();
  assert.match(await admin.getByRole('alert').textContent(), /already exists/);

  await admin.getByRole('button', { name: 'Deactivate newcomer@example.com' }).click();
  // A preview first; only its button deactivates.
  assert.match(await admin.locator('#preview').textContent(),
    /This will deactivate newcomer@example\.com: .* end 0 sessions and revoke 0 API tokens/);
  await admin.getByRole('button', { name: 'Yes, deactivate newcomer@example.com' }).click();
  await admin.waitForURL(/notice=deactivated/);
  assert.match(await admin.getByRole('row', { name: /newcomer@example\.com/ }).textContent(), /Deactivated/);
  await ctx.close();
});

await step('a user\'s admin page and the audit log work on a phone-sized screen', async () => {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const phone = await ctx.newPage();
  await signIn(phone, 'admin@example.com', PASSWORD);
  await phone.waitForURL(`${BASE}/security`);
  await phone.goto(`${BASE}/admin/users`);
  await phone.getByRole('link', { name: 'member@example.com', exact: true }).click();
  await phone.getByRole('heading', { level: 1, name: 'member@example.com' }).waitFor();
  await noHorizontalScroll(phone);
  await phone.getByRole('link', { name: 'Audit log', exact: true }).first().click();
  await phone.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
  await phone.getByLabel('Kind').selectOption('signin.succeeded');
  await phone.getByRole('button', { name: 'Show events' }).click();
  await phone.waitForURL(/kind=signin\.succeeded/);
  const kinds = await phone.locator('#audit-events tbody tr td:nth-child(2)').allTextContents();
  assert.ok(kinds.length > 0 && kinds.every((k) => k === 'signin.succeeded'), kinds.join(','));
  await noHorizontalScroll(phone);
  await ctx.close();
});

if (cspViolations().length > 0) {
  failed = true;
  console.error(`not ok - pages broke their Content-Security-Policy:\n${cspViolations().join('\n')}`);
}
await browser.close();
if (failed) {
  process.exit(1);
}
console.log('browser suite passed');
