// The external user policy in Debian's headless Chromium: a sysadmin
// creates an organization in the admin pages, marks its domain verified
// without DNS, adds an external member and turns the policy's emailed code
// on; the external user, signing in in another browser context, is asked
// for a code read from the real SMTP server (aiosmtpd); a managed user
// (an address in the verified domain) signs in without one; an invited
// address creates its account from the mailed link's page, then is asked
// for a code too. Then the test policy: a member it exempts from the code,
// its reset, and its roll-out to every external user.
//
// From the Rust test: BASE_URL, PASSWORD, and MAILDIR, PYTHON and READ_MAIL
// (a Python program printing every message in MAILDIR as JSON). It created
// root@acme.example (sysadmin), ann@acme.example and bob@partner.example.

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

const admin = await (await browser.newContext()).newPage();

await step('an admin turns the external policy\'s emailed code on in the pages', async () => {
  await signIn(admin, 'root@acme.example');
  await admin.waitForURL(`${BASE}/security`);
  await admin.getByRole('link', { name: 'Organizations', exact: true }).click();
  await admin.getByLabel('Name', { exact: true }).fill('Acme');
  await admin.getByRole('button', { name: 'Create organization' }).click();
  await admin.getByRole('heading', { level: 1, name: 'Acme' }).waitFor();
  await admin.getByLabel('Claim a domain').fill('acme.example');
  await admin.getByRole('button', { name: 'Claim domain' }).click();
  await admin.getByRole('button', { name: 'Mark acme.example verified without DNS' }).click();
  assert.match(await admin.getByRole('status').textContent(), /The domain is verified/);
  await admin.getByLabel('Add an existing account').fill('bob@partner.example');
  await admin.getByRole('button', { name: 'Add member' }).click();
  assert.match(await admin.getByRole('status').textContent(), /The member was added/);
  // The test policy's form below has the same settings: this is the
  // external user policy's form.
  const externalPolicy = admin.locator('form[action$="/external-policy"]');
  await externalPolicy.getByLabel('Emailed code at every sign-in').check();
  await admin.getByRole('button', { name: 'Save policy' }).click();
  assert.match(await admin.getByRole('status').textContent(), /external user policy was saved/);
  assert.ok(await externalPolicy.getByLabel('Emailed code at every sign-in').isChecked());
  // Reset is offered with its preview once the policy is on.
  assert.match(await admin.locator('#reset-preview').textContent(), /This will sign out \d+ external user/);
});

await step('an external user signing in elsewhere is asked for an emailed code', async () => {
  const bob = await (await browser.newContext()).newPage();
  await signIn(bob, 'bob@partner.example');
  await bob.waitForURL(`${BASE}/login/verify`);
  assert.equal(await bob.getByRole('heading', { level: 1 }).textContent(), 'Check your email');
  const code = await nthCode('bob@partner.example', 1);
  await bob.getByLabel('Code from the email').fill(code);
  await bob.getByRole('button', { name: 'Verify' }).click();
  await bob.waitForURL(`${BASE}/security`);
});

await step('a managed user is not asked', async () => {
  const ann = await (await browser.newContext()).newPage();
  await signIn(ann, 'ann@acme.example');
  await ann.waitForURL(`${BASE}/security`);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(codeMails('ann@acme.example').length, 0, 'no code mail to a managed user');
});

await step('an invited address creates its account from the mailed link and is asked for a code', async () => {
  await admin.getByLabel('Invite by email').fill('cy@partner.example');
  await admin.getByRole('button', { name: 'Send invitation' }).click();
  assert.match(await admin.getByRole('status').textContent(), /The invitation is on its way/);
  let link;
  for (let i = 0; i < 150 && !link; i++) {
    const out = spawnSync(PYTHON, ['-c', READ_MAIL, MAILDIR], { encoding: 'utf8' });
    const mail = out.status === 0
      ? JSON.parse(out.stdout).find((m) => m.to === 'cy@partner.example' && m.subject.includes('invited'))
      : undefined;
    link = mail && mail.text.match(/\/invitations\/[A-Za-z0-9_-]+/)?.[0];
    if (!link) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(link, 'the invitation mail never came');
  const cy = await (await browser.newContext()).newPage();
  await cy.goto(`${BASE}${link}`);
  await cy.getByRole('heading', { level: 1, name: 'Join Acme' }).waitFor();
  await cy.getByLabel('Your name').fill('Cy');
  await cy.getByLabel('Password').fill(PASSWORD);
  await cy.getByRole('button', { name: 'Create account and join' }).click();
  await cy.getByRole('heading', { level: 1, name: 'You joined Acme' }).waitFor();
  // The link works once.
  const again = await cy.goto(`${BASE}${link}`);
  assert.equal(again.status(), 404);
  await signIn(cy, 'cy@partner.example');
  await cy.waitForURL(`${BASE}/login/verify`);
  const code = await nthCode('cy@partner.example', 1);
  await cy.getByLabel('Code from the email').fill(code);
  await cy.getByRole('button', { name: 'Verify' }).click();
  await cy.waitForURL(`${BASE}/security`);
});

// The test policy, in the same pages: Bob is put in it with no emailed
// code (its settings replace the external policy's for him), so he signs
// in without a code while Cy, under the external policy, is still asked.
// The test reset signs Bob out on the web; the roll-out, after its
// preview, copies "no code" to every external user, so Cy is not asked
// any more either.
let bobTest;
await step('a test policy member signs in without the external policy\'s code', async () => {
  const testPolicy = admin.locator('form[action$="/test-policy"]');
  await testPolicy.getByLabel('Verification frequency, in minutes').fill('60');
  await admin.getByRole('button', { name: 'Save test policy' }).click();
  assert.match(await admin.getByRole('status').textContent(), /The test policy was saved/);
  await admin.getByLabel('Add an external user by email').fill('bob@partner.example');
  await admin.getByRole('button', { name: 'Add to test policy' }).click();
  assert.match(await admin.getByRole('status').textContent(), /was added to the test policy/);
  assert.match(await admin.locator('#test-members').textContent(), /bob@partner\.example/);
  // Saving the settings again keeps the member.
  await admin.locator('form[action$="/test-policy"]').getByLabel('Verification frequency, in minutes').fill('90');
  await admin.getByRole('button', { name: 'Save test policy' }).click();
  assert.match(await admin.locator('#test-members').textContent(), /bob@partner\.example/);

  const mailsBefore = codeMails('bob@partner.example').length;
  bobTest = await (await browser.newContext()).newPage();
  await signIn(bobTest, 'bob@partner.example');
  await bobTest.waitForURL(`${BASE}/security`);
  const cy = await (await browser.newContext()).newPage();
  await signIn(cy, 'cy@partner.example');
  await cy.waitForURL(`${BASE}/login/verify`);
  assert.equal(codeMails('bob@partner.example').length, mailsBefore, 'no code mail to the test member');
});

await step('the test reset signs its member out on the web after a preview', async () => {
  await admin.reload();
  // Bob's sessions from both of his sign-ins.
  assert.match(await admin.locator('#test-reset-preview').textContent(), /\(2 sessions\)/);
  await admin.locator('form[action$="/test-policy/reset-sessions"]').getByRole('button', { name: 'Sign them out…' }).click();
  await admin.getByRole('heading', { level: 1, name: 'Sign out the test policy\'s members?' }).waitFor();
  await admin.getByRole('button', { name: 'Yes, sign them out' }).click();
  assert.match(await admin.getByRole('status').textContent(), /members were signed out on the web/);
  await bobTest.goto(`${BASE}/security`);
  await bobTest.waitForURL(/\/login/);
});

await step('rolling the test policy out, after its preview, reaches every external user', async () => {
  await admin.getByRole('button', { name: 'Roll out…' }).click();
  assert.match(await admin.locator('#preview').textContent(), /emailed code off, verification every 90 minutes/);
  await admin.getByRole('button', { name: 'Yes, roll it out' }).click();
  assert.match(await admin.getByRole('status').textContent(), /were copied to the external user policy/);
  assert.ok(!(await admin.locator('form[action$="/external-policy"]').getByLabel('Emailed code at every sign-in').isChecked()));
  const mailsBefore = codeMails('cy@partner.example').length;
  const cy = await (await browser.newContext()).newPage();
  await signIn(cy, 'cy@partner.example');
  await cy.waitForURL(`${BASE}/security`);
  assert.equal(codeMails('cy@partner.example').length, mailsBefore, 'no code mail after the roll-out');
});

if (cspViolations().length > 0) {
  failed = true;
  console.error(`not ok - pages broke their Content-Security-Policy:\n${cspViolations().join('\n')}`);
}
await browser.close();
process.exit(failed ? 1 : 0);
