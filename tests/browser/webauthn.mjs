// Security keys and passkeys in Debian's headless Chromium, with the
// browser's virtual authenticators (DevTools protocol) standing in for
// the hardware: register a key from the Security page, sign in with it,
// rename, add and remove keys (never the last), register a passkey and
// sign in with it alone, and see errors worded for people.
//
// BASE_URL (http://localhost:PORT: WebAuthn needs a secure context, and
// localhost is one) and PASSWORD come from the Rust test, which created
// keys@example.com and passkey@example.com.

import { chromium } from 'playwright-core';
import { watchCsp, cspViolations } from './csp.mjs';
import assert from 'node:assert/strict';

const BASE = process.env.BASE_URL;
const PASSWORD = process.env.PASSWORD;
assert.ok(BASE && PASSWORD, 'BASE_URL and PASSWORD must be set');

const RECOVERY_KEY = /^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/;

// A removable security key: no discoverable credentials.
const USB_KEY = {
  protocol: 'ctap2', transport: 'usb', hasResidentKey: false,
  hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
};
// The device's own passkey store: discoverable credentials, user verification.
const PLATFORM = {
  protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
  hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
};

const started = Date.now();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
watchCsp(browser);
let failed = false;
// Runs a step unless one it needs (an earlier step's result) failed;
// returns whether it passed.
async function step(name, fn, needs = []) {
  if (needs.includes(false)) {
    failed = true;
    console.error(`not ok - ${name} # not run: an earlier step it needs failed`);
    return false;
  }
  try { await fn(); console.log(`ok - ${name}`); return true; }
  catch (e) { failed = true; console.error(`not ok - ${name}\n${e.stack}`); return false; }
}

// A page with WebAuthn enabled on its DevTools session. The authenticators
// belong to the page and survive navigations within it.
async function openPage() {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(10_000);
  // Anything the page logs as an error is worth seeing when a step fails.
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  return { ctx, page, cdp };
}

async function addAuthenticator(cdp, options) {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options });
  return authenticatorId;
}

async function credentials(cdp, authenticatorId) {
  return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
}

async function signInWithPassword(page, email, landing) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${BASE}${landing}`);
}

async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(`${BASE}/login`);
}

async function session(page) {
  return page.evaluate(() => fetch('/api/v1/session').then((r) => r.json()));
}

// Waits for `done`, unless the page's status line (#id) turns into an
// alert first: then the step fails with what the page says.
async function unlessAlert(page, id, done) {
  const alert = page.locator(`#${id}.alert`);
  await Promise.race([
    done,
    alert.waitFor().then(async () => {
      throw new Error(`the page says: ${(await alert.textContent()).trim()}`);
    }),
  ]);
}

const methodNames = async (page) =>
  (await page.locator('.methods .method-name').allTextContents()).map((s) => s.trim());

// The sentence the page shows in a status area: visible, and for people
// (no exception names, no error codes, no JSON).
async function humanSentence(locator) {
  await locator.waitFor({ state: 'visible' });
  const text = (await locator.textContent()).trim();
  assert.ok(text.length > 10, `too short to be a sentence: ${JSON.stringify(text)}`);
  assert.doesNotMatch(text, /[A-Za-z]+Error|DOMException|exception|[a-z]+_[a-z]+|[{}]|\bundefined\b|\bnull\b/,
    `not worded for people: ${JSON.stringify(text)}`);
  assert.match(text, /^[A-Z].*[.…]$/, `not a sentence: ${JSON.stringify(text)}`);
  return text;
}

// ---------------------------------------------------------------------------
// Security keys: keys@example.com

const keys = await openPage();
let blueAuthenticator = '';

const keyAdded = await step('add a security key from the Security page: the recovery key is shown', async () => {
  const { page, cdp } = keys;
  blueAuthenticator = await addAuthenticator(cdp, USB_KEY);
  await signInWithPassword(page, 'keys@example.com', '/security');
  await page.getByLabel('Add a security key').fill('Blue key');
  await page.getByRole('button', { name: 'Add security key' }).click();
  await unlessAlert(page, 'key-status',
    page.getByRole('heading', { name: 'Save your emergency recovery key' }).waitFor());
  const recovery = (await page.locator('#new-recovery-key').textContent()).trim();
  assert.match(recovery, RECOVERY_KEY);
  assert.match(await page.locator('#key-status').textContent(), /Two-step verification is on/);

  const creds = await credentials(cdp, blueAuthenticator);
  assert.equal(creds.length, 1, 'one credential on the key');
  assert.equal(creds[0].isResidentCredential, false, 'a security key credential is not discoverable');
  assert.equal(creds[0].rpId, 'localhost');

  await page.getByRole('link', { name: 'I have saved my key' }).click();
  await page.waitForURL(/notice=two-step-on/);
  assert.deepEqual(await methodNames(page), ['Blue key']);
  assert.equal(await page.locator('.methods .method[data-kind="security_key"]').count(), 1);
});

const keySignIn = await step('sign in with the password, then the security key', async () => {
  const { page } = keys;
  await signOut(page);
  await signInWithPassword(page, 'keys@example.com', '/login/verify');
  await page.getByRole('heading', { level: 1, name: 'Two-step verification' }).waitFor();
  const use = page.getByRole('button', { name: 'Use my security key' });
  assert.ok(await use.isVisible(), 'the key is offered first');
  await page.getByText('Use another method').click();
  assert.ok(await page.getByRole('link', { name: 'Use your emergency recovery key' }).isVisible());
  await use.click();
  await unlessAlert(page, 'key-status', page.waitForURL(`${BASE}/security`));
  const me = await session(page);
  assert.equal(me.account.email, 'keys@example.com');
  assert.equal(me.aal, 'aal2');
  assert.ok(me.methods.includes('security_key'), `methods: ${me.methods}`);
  assert.ok(me.methods.includes('password'), `methods: ${me.methods}`);
}, [keyAdded]);

await step('rename the key', async () => {
  const { page } = keys;
  await page.getByLabel('New name for Blue key').fill('Office key');
  await page.getByRole('button', { name: 'Rename Blue key' }).click();
  await page.waitForURL(/notice=key-renamed/);
  assert.deepEqual(await methodNames(page), ['Office key']);
}, [keySignIn]);

let officeCredential = null;

await step('the same key twice is refused in words for people', async () => {
  const { page } = keys;
  await page.getByLabel('Add a security key').fill('Same key');
  await page.getByRole('button', { name: 'Add security key' }).click();
  // The status line turns from a prompt (class notice) into an alert.
  const status = page.locator('#key-status.alert');
  const text = await humanSentence(status);
  assert.match(text, /already registered/);
  assert.deepEqual(await methodNames(page), ['Office key']);
}, [keySignIn]);

await step('add a second key, remove it, and the last one cannot be removed', async () => {
  const { page, cdp } = keys;
  // Keep the first key's credential (with its counter) to put it on another
  // authenticator later, then unplug it so the browser uses the new one.
  [officeCredential] = await credentials(cdp, blueAuthenticator);
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: blueAuthenticator });
  const spare = await addAuthenticator(cdp, USB_KEY);

  await page.goto(`${BASE}/security`);
  await page.getByLabel('Add a security key').fill('Spare key');
  await page.getByRole('button', { name: 'Add security key' }).click();
  await unlessAlert(page, 'key-status', page.waitForURL(/notice=key-added/));
  assert.deepEqual((await methodNames(page)).sort(), ['Office key', 'Spare key']);
  assert.equal((await credentials(cdp, spare)).length, 1);

  await page.getByRole('button', { name: 'Remove Spare key' }).click();
  await page.waitForURL(/notice=method-removed/);
  assert.deepEqual(await methodNames(page), ['Office key']);

  await page.getByRole('button', { name: 'Remove Office key' }).click();
  await page.getByRole('alert').filter({ hasText: 'only verification method' }).waitFor();
  assert.deepEqual(await methodNames(page), ['Office key']);
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: spare });
}, [keySignIn]);

await step('a key this account does not know: a sentence for people, then the right key works', async () => {
  const { page, cdp } = keys;
  await page.goto(`${BASE}/security`);
  await signOut(page);
  const stranger = await addAuthenticator(cdp, USB_KEY);
  await signInWithPassword(page, 'keys@example.com', '/login/verify');
  const use = page.getByRole('button', { name: 'Use my security key' });
  await use.click();
  // The status line turns from a prompt (class notice) into an alert.
  const status = page.locator('#key-status.alert');
  assert.match(await humanSentence(status), /key/);
  assert.equal(page.url(), `${BASE}/login/verify`);
  assert.ok(await use.isEnabled(), 'the button can be used again');

  // Plug in the registered key (the same credential on a new authenticator).
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: stranger });
  const office = await addAuthenticator(cdp, USB_KEY);
  const credential = officeCredential || (await credentials(cdp, blueAuthenticator))[0];
  await cdp.send('WebAuthn.addCredential', { authenticatorId: office, credential });
  await use.click();
  await unlessAlert(page, 'key-status', page.waitForURL(`${BASE}/security`));
  assert.equal((await session(page)).aal, 'aal2');
}, [keySignIn]);

await keys.ctx.close();

// ---------------------------------------------------------------------------
// Passkeys: passkey@example.com, in a new browser context

const pk = await openPage();
let laptopAuthenticator = '';

const passkeyAdded = await step('add a passkey: a discoverable credential, and the recovery key is shown', async () => {
  const { page, cdp } = pk;
  laptopAuthenticator = await addAuthenticator(cdp, PLATFORM);
  await signInWithPassword(page, 'passkey@example.com', '/security');
  await page.getByLabel('Add a passkey').fill('Laptop');
  await page.getByRole('button', { name: 'Add passkey' }).click();
  await unlessAlert(page, 'key-status',
    page.getByRole('heading', { name: 'Save your emergency recovery key' }).waitFor());
  assert.match((await page.locator('#new-recovery-key').textContent()).trim(), RECOVERY_KEY);
  const creds = await credentials(cdp, laptopAuthenticator);
  assert.equal(creds.length, 1, 'one credential on the device');
  assert.equal(creds[0].isResidentCredential, true, 'a passkey is discoverable');
  assert.ok(creds[0].userHandle, 'a passkey carries the user handle');
  await page.getByRole('link', { name: 'I have saved my key' }).click();
  await page.waitForURL(/notice=two-step-on/);
  assert.deepEqual(await methodNames(page), ['Laptop']);
  assert.equal(await page.locator('.methods .method[data-kind="passkey"]').count(), 1);
});

await step('sign in with the passkey alone, with no email or password typed', async () => {
  const { page, cdp } = pk;
  const messages = [];
  page.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
  // Watch the page's requests to the browser, without changing them.
  await page.addInitScript(() => {
    const get = navigator.credentials.get.bind(navigator.credentials);
    window.webauthnGets = [];
    navigator.credentials.get = (options) => {
      const call = { mediation: (options && options.mediation) || 'optional', state: 'pending' };
      window.webauthnGets.push(call);
      const answer = get(options);
      answer.then(() => { call.state = 'resolved'; }, (e) => {
        call.state = e.name;
        console.log(`get(${call.mediation}) rejected: ${e.name}: ${e.message}`);
      });
      return answer;
    };
  });
  // Chromium offers the autofill (conditional) request where a platform
  // authenticator is present. Its virtual environment answers such a
  // request at once (with the passkey, or with an error when it holds
  // none), unless the authenticator waits for a touch: so the sign-in page
  // loads with the passkey on an authenticator that waits, which keeps the
  // autofill request pending. Touches are simulated again before the
  // button is pressed, and the button has to abort the pending request
  // before asking again.
  const [passkey] = await credentials(cdp, laptopAuthenticator);
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: laptopAuthenticator });
  laptopAuthenticator = await addAuthenticator(cdp, { ...PLATFORM, automaticPresenceSimulation: false });
  await cdp.send('WebAuthn.addCredential', { authenticatorId: laptopAuthenticator, credential: passkey });
  await signOut(page);
  // Debian's Chromium supports it; were that to change, this step would
  // no longer test what it is for, so it says so.
  await page.waitForFunction(() => document.documentElement.dataset.passkeyAutofill === 'on', null,
    { timeout: 5000 }).catch(() => { throw new Error('the sign-in page did not start passkey autofill'); });
  await page.waitForFunction(() => window.webauthnGets.some((c) => c.mediation === 'conditional'));
  await cdp.send('WebAuthn.setAutomaticPresenceSimulation',
    { authenticatorId: laptopAuthenticator, enabled: true });
  assert.equal(await page.getByLabel('Email address').inputValue(), '');
  assert.ok(await page.locator('#passkey-status').isHidden(), 'no message before asking');
  assert.deepEqual(await page.evaluate(() => window.webauthnGets.map((c) => [c.mediation, c.state])),
    [['conditional', 'pending']], 'the autofill request is pending');
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await unlessAlert(page, 'passkey-status', page.waitForURL(`${BASE}/security`));
  const me = await session(page);
  assert.equal(me.account.email, 'passkey@example.com');
  assert.equal(me.aal, 'aal2');
  assert.deepEqual(me.methods, ['passkey']);
  assert.deepEqual(messages.filter((t) => /already pending/i.test(t)), [], 'no "request already pending" error');
  assert.ok(messages.some((t) => /get\(conditional\) rejected: AbortError/.test(t)),
    `the autofill request was aborted: ${JSON.stringify(messages)}`);
}, [passkeyAdded]);

await pk.ctx.close();
if (cspViolations().length > 0) {
  failed = true;
  console.error(`not ok - pages broke their Content-Security-Policy:\n${cspViolations().join('\n')}`);
}
await browser.close();
console.log(`# ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (failed) process.exit(1);
console.log('WebAuthn browser suite passed');
