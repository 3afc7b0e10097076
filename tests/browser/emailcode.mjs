// Emailed codes in Debian's headless Chromium against a running tessera
// server that mails through a real SMTP server (aiosmtpd): a fresh browser
// is asked for a code, read from the mail received; the same browser signs
// in next time without one; "Verify it's you" mails a step-up code that
// unlocks creating an API token; an account with two-step verification is
// never asked for an emailed code.
//
// From the Rust test: BASE_URL, PASSWORD, and MAILDIR, PYTHON and READ_MAIL
// (a Python program printing every message in MAILDIR as JSON). It created
// fresh@example.com (no 2SV) and twostep@example.com (2SV on).

import { chromium } from 'playwright-core';
import { watchCsp, cspViolations } from './csp.mjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const BASE = process.env.BASE_URL;
const PASSWORD = process.env.PASSWORD;
const { MAILDIR, PYTHON, READ_MAIL } = process.env;
assert.ok(BASE && PASSWORD && MAILDIR && PYTHON && READ_MAIL, 'environment from the Rust test');

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

/** Code mails received for `to`, as the SMTP server stored them. */
function codeMails(to) {
  const out = spawnSync(PYTHON, ['-c', READ_MAIL, MAILDIR], { encoding: 'utf8' });
  if (out.status !== 0) return [];
  return JSON.parse(out.stdout).filter((m) => m.to === to && m.subject.includes('code'));
}

/** Waits for the `n`th code mail to `to`; returns its code. */
async function nthCode(to, n) {
  for (let i = 0; i < 150; i++) {
    const got = codeMails(to);
    if (got.length >= n) {
      const line = got[n - 1].text.split('\n').map((l) => l.trim()).find((l) => /^\d{6}$/.test(l));
      assert.ok(line, `no code in ${got[n - 1].text}`);
      return line;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`code mail ${n} to ${to} never came`);
}

async function signIn(page, email) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

const ctx = await browser.newContext();
const page = await ctx.newPage();

await step('a fresh browser is asked for the code mailed to it', async () => {
  await signIn(page, 'fresh@example.com');
  await page.waitForURL(`${BASE}/login/verify`);
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Check your email');
  assert.match(await page.locator('#two-step-nudge').textContent(),
    /Set up two-step verification and you won't need emailed codes/);
  const code = await nthCode('fresh@example.com', 1);
  await page.getByLabel('Code from the email').fill(code);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${BASE}/security`);
});

await step('the same browser signs in next time with no code', async () => {
  await page.getByRole('button', { name: 'Sign out' }).last().click();
  await page.waitForURL(`${BASE}/login`);
  await signIn(page, 'fresh@example.com');
  await page.waitForURL(`${BASE}/security`);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(codeMails('fresh@example.com').length, 1, 'no second code mail');
});

await step('"Verify it\'s you" mails a code that unlocks creating an API token', async () => {
  await page.getByLabel('Create an API token').fill('nightly');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.waitForURL(/\/security\/verify/);
  await page.getByRole('button', { name: 'Email me a code' }).click();
  assert.match(await page.getByRole('status').textContent(), /We emailed you a code/);
  const code = await nthCode('fresh@example.com', 2);
  await page.getByLabel('Code from the email').fill(code);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(/\/security\?notice=verified/);
  await page.getByLabel('Create an API token').fill('nightly');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.getByRole('heading', { name: 'Your new API token' }).waitFor();
  assert.match(await page.locator('#api-token').textContent(), /^tsr_[0-9A-Za-z]+$/);
});

await step('an account with two-step verification is never asked for an emailed code', async () => {
  const other = await (await browser.newContext()).newPage();
  await signIn(other, 'twostep@example.com');
  await other.waitForURL(/\/login\/verify/);
  assert.equal(await other.getByRole('heading', { level: 1 }).textContent(), 'Two-step verification');
  assert.equal(await other.locator('#two-step-nudge').count(), 0);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(codeMails('twostep@example.com').length, 1, 'only the code of its own enrollment sign-in');
});

if (cspViolations().length > 0) {
  failed = true;
  console.error(`not ok - pages broke their Content-Security-Policy:\n${cspViolations().join('\n')}`);
}
await browser.close();
process.exit(failed ? 1 : 0);
