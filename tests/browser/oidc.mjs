// The sample relying app (examples/relying-app) signing a person in
// through Tessera in Debian's headless Chromium: password and TOTP on
// Tessera's pages, back to the app with a valid ID token; then the app's
// /sensitive page asks for a fresh aal2 verification (acr_values, max_age),
// which Tessera's /security/verify page gives with a new TOTP code; then
// RP-initiated logout ends both.
//
// BASE_URL, PASSWORD and APP_URL come from the Rust test, which created
// rp@example.com (no two-step verification yet) and started the app with
// STEP_UP_MAX_AGE=0, so any earlier verification is too old for /sensitive.

import { chromium } from 'playwright-core';
import { watchCsp, cspViolations } from './csp.mjs';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';

const BASE = process.env.BASE_URL;
const PASSWORD = process.env.PASSWORD;
const APP = process.env.APP_URL;
const EMAIL = 'rp@example.com';
assert.ok(BASE && PASSWORD && APP, 'BASE_URL, PASSWORD and APP_URL must be set');

// Each use of the authenticator takes a later 30 s step than the one
// before (the server refuses a step already used), without waiting:
// enrollment one step back, sign-in now, step-up one step ahead, all
// within the one step of skew the server tolerates.
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
let first = null;

// What the app shows of the ID token it validated.
async function claims() {
  const text = async (id) => (await page.locator(`#${id}`).textContent()).trim();
  return {
    sub: await text('sub'), email: await text('email'), acr: await text('acr'),
    amr: await text('amr'), auth_time: Number(await text('auth_time')),
  };
}

await step('enroll an authenticator app on Tessera, then sign out', async () => {
  await page.goto(`${BASE}/login`);
  await page.getByLabel('Email address').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${BASE}/security`);
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  await page.locator('.qr svg').waitFor({ state: 'visible', timeout: 5000 });
  secret = await page.getByLabel('Key').inputValue();
  await page.getByLabel('Enter the 6-digit code the app shows').fill(code(secret, -30));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('link', { name: 'I have saved my key' }).click();
  await page.waitForURL(/notice=two-step-on/);
  await page.getByRole('button', { name: 'Sign out' }).last().click();
  await page.waitForURL(`${BASE}/login`);
});

await step('sign in through the app: password and TOTP on Tessera, claims back in the app', async () => {
  await page.goto(`${APP}/`);
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/login`);
  await page.getByLabel('Email address').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${BASE}/login/verify`);
  await page.getByLabel('Verification code').fill(code(secret));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${APP}/`);
  first = await claims();
  assert.equal(first.email, EMAIL);
  assert.equal(first.acr, 'urn:tessera:acr:aal2');
  assert.match(first.amr, /\botp\b/);
  assert.ok(first.auth_time > 0, 'auth_time is a timestamp');
});

await step('/sensitive steps up on /security/verify with a fresh code: newer auth_time', async () => {
  assert.ok(first, 'signed in first');
  // auth_time has one-second resolution: let the clock pass the second
  // of the first verification, so "newer" is visible.
  while (Date.now() / 1000 < first.auth_time + 1) await new Promise((r) => setTimeout(r, 50));
  await page.getByRole('link', { name: 'Sensitive page' }).click();
  await page.waitForURL(`${BASE}/security/verify`);
  await page.getByLabel('Verification code').fill(code(secret, 30));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('heading', { name: 'Sensitive page' }).waitFor({ timeout: 10000 });
  assert.ok(page.url().startsWith(`${APP}/callback`), page.url());
  const fresh = await claims();
  assert.equal(fresh.sub, first.sub);
  assert.equal(fresh.acr, 'urn:tessera:acr:aal2');
  assert.match(fresh.amr, /\botp\b/);
  assert.ok(fresh.auth_time > first.auth_time, `auth_time ${fresh.auth_time} is not newer than ${first.auth_time}`);
});

await step('RP-initiated logout ends the app session and the Tessera session', async () => {
  await page.goto(`${APP}/`);
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.waitForURL(`${APP}/`);
  await page.getByRole('link', { name: 'Sign in' }).waitFor();
  await page.goto(`${BASE}/security`);
  await page.waitForURL(`${BASE}/login`);
});

if (cspViolations().length > 0) {
  failed = true;
  console.error(`not ok - pages broke their Content-Security-Policy:\n${cspViolations().join('\n')}`);
}
await browser.close();
if (failed) process.exit(1);
console.log('OIDC relying app browser suite passed');
