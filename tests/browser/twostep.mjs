// Two-step verification in Debian's headless Chromium: enroll on the page
// by reading the key from it (codes from oathtool), sign in with a code,
// use the recovery key and see the new one, and get rate-limited.
//
// BASE_URL and PASSWORD come from the Rust test, which created
// twostep@example.com.

import { chromium } from 'playwright-core';
import { watchCsp, cspViolations } from './csp.mjs';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';

const BASE = process.env.BASE_URL;
const PASSWORD = process.env.PASSWORD;
const EMAIL = 'twostep@example.com';
assert.ok(BASE && PASSWORD, 'BASE_URL and PASSWORD must be set');

const code = (secret, offsetSecs = 0) => execFileSync('oathtool',
  ['--totp', '-b', secret, '--now', `@${Math.floor(Date.now() / 1000) + offsetSecs}`]).toString().trim();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
watchCsp(browser);
let failed = false;
async function step(name, fn) {
  try { await fn(); console.log(`ok - ${name}`); }
  catch (e) { failed = true; console.error(`not ok - ${name}\n${e.stack}`); }
}

const ctx = await browser.newContext();
const page = await ctx.newPage();
let secret = '';
let recovery = '';

async function passwordStep() {
  await page.goto(`${BASE}/login`);
  await page.getByLabel('Email address').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${BASE}/login/verify`);
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out' }).last().click();
  await page.waitForURL(`${BASE}/login`);
}

await step('enroll an authenticator app from the Security page', async () => {
  await page.goto(`${BASE}/login`);
  await page.getByLabel('Email address').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${BASE}/security`);
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  await page.locator('.qr svg').waitFor({ state: 'visible', timeout: 5000 });
  secret = await page.getByLabel('Key').inputValue();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await page.getByLabel('Enter the 6-digit code the app shows').fill(code(secret));
  await page.getByRole('button', { name: 'Confirm' }).click();
  recovery = (await page.locator('#recovery-key').textContent()).trim();
  assert.match(recovery, /^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/);
  for (const name of ['Copy', 'Print']) {
    assert.ok(await page.getByRole('button', { name }).isVisible(), `${name} button`);
  }
  const href = await page.getByRole('link', { name: 'Download' }).getAttribute('href');
  assert.ok(decodeURIComponent(href).includes(recovery), 'download carries the key');
  await page.getByRole('link', { name: 'I have saved my key' }).click();
  await page.waitForURL(/notice=two-step-on/);
  assert.match(await page.getByRole('status').textContent(), /Two-step verification is on/);
});

await step('sign in with a code from the app', async () => {
  await signOut();
  await passwordStep();
  await page.getByLabel('Verification code').fill(code(secret, 30));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${BASE}/security`);
});

await step("can't use the device: the recovery key signs in and a new one is shown", async () => {
  await signOut();
  await passwordStep();
  await page.getByText('Use another method').click();
  await page.getByRole('link', { name: 'Use your emergency recovery key' }).click();
  await page.getByLabel('Recovery key').fill(recovery);
  await page.getByRole('button', { name: 'Verify' }).click();
  const fresh = (await page.locator('#recovery-key').textContent()).trim();
  assert.match(fresh, /^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/);
  assert.notEqual(fresh, recovery, 'a new key replaces the used one');
  recovery = fresh;
  await page.getByRole('link', { name: 'I have saved my key' }).click();
  await page.waitForURL(`${BASE}/security`);
});

await step('wrong codes get rate-limited with a page that says how long to wait', async () => {
  await signOut();
  await passwordStep();
  const wrong = code(secret) === '000000' ? '111111' : '000000';
  for (let i = 0; i < 2; i++) {
    await page.getByLabel('Verification code').fill(wrong);
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/login/verify') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Verify' }).click(),
    ]);
    await page.waitForLoadState();
    assert.match(await page.getByRole('alert').textContent(), /not correct/);
  }
  await page.getByLabel('Verification code').fill(wrong);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/login/verify') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Verify' }).click(),
  ]);
  assert.equal(resp.status(), 429);
  assert.ok(Number(resp.headers()['retry-after']) >= 1);
  await page.getByRole('heading', { level: 1, name: 'Too many attempts' }).waitFor({ timeout: 5000 });
  assert.match(await page.locator('main').textContent(), /Wait \d+ seconds/);
});

if (cspViolations().length > 0) {
  failed = true;
  console.error(`not ok - pages broke their Content-Security-Policy:\n${cspViolations().join('\n')}`);
}
await browser.close();
if (failed) process.exit(1);
console.log('two-step browser suite passed');
