// Drives the dashboard (SPEC §8) in Debian's chromium, headless, with every host but 127.0.0.1
// unreachable, for tests/it/dashboard/ — one case per run: `node dashboard.mjs <case>`.
//
// The Rust test serves the real router, seeds the database and passes, in the environment:
//   DASHBOARD_URL          the service (through a proxy the test can cut), ending in `/`
//   DASHBOARD_FIXTURE      JSON: tokens by role, ids of the seeded definitions and builds
//   DASHBOARD_SCREENSHOTS  the folder for screenshots
//   CHROMIUM               the browser executable
// Talking to the test: this script writes one JSON object per line on stdout — `{"ask": …,
// "id": n}` (the test answers `{"id": n, "answer": …}` on stdin), `{"step": …}`, `{"screenshot":
// path}` — and exits non-zero with the reason on stderr when a check fails. What it asks:
//   {"graphql": {"as": role, "query", "variables"}}  a request sent by another client (the test)
//   {"subscribers": n}                               wait until n subscriptions listen
//   {"cut": true} / {"restore": true}                drop every connection and hold new ones /
//                                                    let them through again

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const caseName = process.argv[2];
const base = process.env.DASHBOARD_URL;
const fixture = JSON.parse(process.env.DASHBOARD_FIXTURE ?? '{}');
const shots = process.env.DASHBOARD_SCREENSHOTS;
const origin = new URL(base).origin;

// --- talking to the Rust test --------------------------------------------------------------

const replies = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
let asked = 0;

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function ask(question) {
  const id = ++asked;
  send({ ask: question, id });
  const { value, done } = await replies.next();
  assert.ok(!done, 'the test stopped answering');
  const reply = JSON.parse(value);
  assert.equal(reply.id, id);
  return reply.answer;
}

const step = (text) => send({ step: text });

/** A GraphQL request sent by the test as `who`, not by the page; fails on any error. */
async function asClient(who, query, variables = {}) {
  const body = await ask({ graphql: { as: who, query, variables } });
  assert.ok(!body.errors, `${who}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

// --- the browser -----------------------------------------------------------------------------

fs.rmSync(path.join(shots, `${caseName}-failure.png`), { force: true });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pgw-dashboard-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(15_000);

/** Every HTTP request the page made (websocket frames are not requests). */
let requests = [];
const everyRequest = [];
page.on('request', (request) => {
  const seen = {
    method: request.method(), url: request.url(), type: request.resourceType(), body: request.postData() ?? '',
  };
  requests.push(seen);
  everyRequest.push(seen);
});
const pageErrors = [];
page.on('pageerror', (error) => pageErrors.push(error.message));
page.on('console', (message) => {
  if (message.type() === 'error') process.stderr.write(`console: ${message.text()}\n`);
});

/** A screenshot of the whole page (`fullPage: false`: of the window only). */
async function screenshot(name, { fullPage = true } = {}) {
  const file = path.join(shots, `${caseName}-${name}.png`);
  await page.screenshot({ path: file, fullPage });
  send({ screenshot: file });
}

/** The HTTP requests made since the last call. */
function takeRequests() {
  const made = requests;
  requests = [];
  return made;
}

const main = () => page.locator('main');
const heading = (name) => page.getByRole('heading', { level: 1, name });

async function signIn(token) {
  await page.goto(base);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await live();
}

/** Waits until the live indicator says the websocket is connected. */
async function live() {
  await page.locator('[data-live="live"]').waitFor();
}

const row = (id) => page.locator(`tr[data-build="${id}"]`);
const badgeOf = (id) => row(id).locator('.badge');

/** Waits until build `id`'s row shows `status` (its word, e.g. "Running"). */
async function rowShows(id, status) {
  await row(id).locator('.badge', { hasText: status }).waitFor();
}

/**
 * Waits until the template and log panels of a build or definition page got their answers:
 * each is hidden (the service lacks the field) or shows what it loaded. Call it once the page's
 * main content shows: the panels are drawn with it, and ask right after.
 */
async function panelsSettled() {
  await page.waitForFunction(() => {
    const panel = (id) => document.getElementById(id)?.closest('section');
    const template = panel('template-title');
    const log = panel('log-title');
    return (!template || !template.querySelector('.loading'))
      && (!log || !log.textContent.includes('Loading the log'));
  });
}

/** Waits until the list shows the data of the route whose query string is `query`. */
async function listShows(query) {
  await page.locator(`[data-shown="${query}"][aria-busy="false"]`).waitFor();
}

/**
 * The API's message for field `id` is next to it: inside the same field, named by the
 * control's `aria-describedby`, the control marked invalid.
 */
async function expectFieldError(id, pattern) {
  const error = page.locator(`#${id}-error`);
  await error.waitFor();
  assert.match(await error.textContent(), pattern);
  const control = page.locator(`#${id}`);
  assert.equal(await control.getAttribute('aria-invalid'), 'true');
  assert.ok((await control.getAttribute('aria-describedby')).split(' ').includes(`${id}-error`));
  assert.ok(await error.evaluate((el, of) => el.closest('.field') === document.getElementById(of).closest('.field'), id),
    `the message of ${id} is not in its field`);
}

// --- colours ---------------------------------------------------------------------------------

function rgb(text) {
  const [r, g, b] = text.match(/[\d.]+/g).map(Number);
  return [r, g, b];
}

function hsl([r, g, b]) {
  const [R, G, B] = [r / 255, g / 255, b / 255];
  const max = Math.max(R, G, B);
  const min = Math.min(R, G, B);
  const l = (max + min) / 2;
  const d = max - min;
  const s = d === 0 ? 0 : d / (1 - Math.abs(2 * l - 1));
  let h = 0;
  if (d !== 0) {
    if (max === R) h = 60 * (((G - B) / d) % 6);
    else if (max === G) h = 60 * ((B - R) / d + 2);
    else h = 60 * ((R - G) / d + 4);
  }
  return { h: (h + 360) % 360, s, l };
}

/** The colour family of a badge background: what a person would call it. */
function family(colour) {
  const { h, s } = hsl(rgb(colour));
  if (s < 0.15) return 'grey';
  if (h < 15 || h >= 345) return 'red';
  if (h >= 40 && h < 65) return 'yellow';
  if (h >= 90 && h < 165) return 'green';
  if (h >= 195 && h < 250) return 'blue';
  return `unnamed hue ${Math.round(h)}`;
}

function contrast(a, b) {
  const luminance = (colour) => {
    const [r, g, b2] = rgb(colour).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b2;
  };
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

// --- the cases -------------------------------------------------------------------------------

const START_BUILD = 'mutation ($id: ID!) { startImageBuild(id: $id) { id status } }';
const COMPLETE_BUILD = 'mutation ($id: ID!) { completeImageBuild(id: $id) { id status } }';
const QUEUE_BUILD = `mutation ($input: QueueImageBuildInput!) { queueImageBuild(input: $input) { id outputName } }`;

const cases = {
  /** Sign in by pasting a token, stay signed in across a reload, sign out; the bootstrap link. */
  async 'sign-in'() {
    await page.goto(base);
    await heading('Sign in to packer-gateway').waitFor();
    await screenshot('sign-in');

    step('a wrong token is refused next to the field');
    await page.getByLabel('API token').fill('pgw_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const field = page.locator('#signin-token');
    await page.locator('#signin-token-error', { hasText: 'not valid' }).waitFor();
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    assert.match(await field.getAttribute('aria-describedby'), /signin-token-error/);

    step('the admin token signs in, and is kept in sessionStorage only');
    await page.getByLabel('API token').fill(`Bearer ${fixture.tokens.admin}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await live();
    await page.locator('header', { hasText: 'admin' }).waitFor();
    await heading('Image builds').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('packer-gateway.token')), fixture.tokens.admin);
    assert.equal(await page.evaluate(() => localStorage.length), 0);

    step('a reload keeps the session');
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    step('signing out forgets the token');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading('Sign in to packer-gateway').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('packer-gateway.token')), null);
    await page.reload();
    await heading('Sign in to packer-gateway').waitFor();

    step('the bootstrap link /#token=… signs in at once and leaves no token in the address bar');
    await page.goto(`${base}#token=${encodeURIComponent(fixture.tokens.viewer)}`);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.locator('.user', { hasText: 'Viewer' }).waitFor();
    assert.ok(!page.url().includes(fixture.tokens.viewer), page.url());
    assert.ok(!(await page.evaluate(() => location.href)).includes('token'));
  },

  /** The builds list, newest first, with badges in the seed's colours. */
  async badges() {
    await signIn(fixture.tokens.admin);
    await heading('Image builds').waitFor();
    const expected = {
      completed: ['Completed', 'green'],
      running: ['Running', 'blue'],
      failed: ['Failed', 'red'],
      cancelled: ['Cancelled', 'yellow'],
      pending: ['Pending', 'grey'],
    };
    for (const [status, [word, colour]] of Object.entries(expected)) {
      const badge = badgeOf(fixture.builds[status]);
      await badge.waitFor();
      assert.equal((await badge.textContent()).trim(), word);
      const style = await badge.evaluate((el) => {
        const computed = getComputedStyle(el);
        return { background: computed.backgroundColor, text: computed.color };
      });
      assert.equal(family(style.background), colour, `${status}: ${style.background}`);
      const ratio = contrast(style.background, style.text);
      assert.ok(ratio >= 4.5, `${status}: contrast ${ratio.toFixed(2)} of ${style.text} on ${style.background}`);
    }
    step('newest first');
    const order = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.build));
    assert.deepEqual(order, fixture.newestFirst);
    await screenshot('builds');
  },

  /** A build queued from the definition's page appears there and in the builds list. */
  async queue() {
    await signIn(fixture.tokens.operator);
    await page.getByRole('link', { name: 'Definitions', exact: true }).click();
    await page.getByRole('link', { name: fixture.names.ubuntu }).click();
    await heading(fixture.names.ubuntu).waitFor();
    await page.getByLabel('Output VMID').fill('9123');
    await page.getByLabel('Output name').fill('browser-queued');
    await page.getByLabel('Image version').fill('2026.1');
    await page.getByLabel('Variables (JSON object)').fill('{"cores": 4}');
    await page.getByRole('button', { name: 'Queue build' }).click();
    await page.getByRole('status').filter({ hasText: 'Queued browser-queued' }).waitFor();
    await page.locator('#definition-builds-title').waitFor();
    await page.locator('section[aria-labelledby="definition-builds-title"] tbody tr').first()
      .filter({ hasText: 'browser-queued' }).waitFor();
    await screenshot('definition');

    step('it appears on top of the builds list, pending');
    await page.getByRole('link', { name: 'Builds', exact: true }).click();
    const first = page.locator('tbody tr').first();
    await first.filter({ hasText: 'browser-queued' }).waitFor();
    assert.equal((await first.locator('.badge').textContent()).trim(), 'Pending');
  },

  /**
   * Another client's changes show live — a new build, a start, a completion — with no HTTP
   * request and no reload; and nothing polls: ten minutes of the page's clock make no request.
   */
  async live() {
    await page.clock.install();
    await signIn(fixture.tokens.viewer);
    await heading('Image builds').waitFor();
    // Everything the list asks for is answered: its page, and the choices of its filters.
    await page.locator('.results[aria-busy="false"]').waitFor();
    await page.locator('#builds-definition option').nth(1).waitFor({ state: 'attached' });
    await ask({ subscribers: 1 });
    await page.evaluate(() => { window.sameDocument = true; });
    takeRequests();

    step('a build queued by another client appears on top');
    const queued = await asClient('admin', QUEUE_BUILD, {
      input: { definitionId: fixture.definitions.ubuntu, outputVmid: 9300, outputName: 'queued-elsewhere' },
    });
    const queuedId = queued.queueImageBuild.id;
    await page.locator('tbody tr').first().filter({ hasText: 'queued-elsewhere' }).waitFor();
    await rowShows(queuedId, 'Pending');

    step('a build started by a worker turns blue in place');
    await asClient('worker', START_BUILD, { id: fixture.builds.pending });
    await rowShows(fixture.builds.pending, 'Running');
    assert.equal(family(await badgeOf(fixture.builds.pending).evaluate((el) => getComputedStyle(el).backgroundColor)), 'blue');
    assert.deepEqual(takeRequests(), [], 'the page asked the service again');
    assert.equal(await page.evaluate(() => window.sameDocument), true, 'the page was reloaded');

    step('its page shows the completion in the timeline');
    await row(fixture.builds.pending).getByRole('link').first().click();
    await page.locator('.timeline li', { hasText: 'Pending → Running' }).waitFor();
    await panelsSettled();
    takeRequests();
    await asClient('worker', COMPLETE_BUILD, { id: fixture.builds.pending });
    await page.locator('.timeline li', { hasText: 'Running → Completed' }).waitFor();
    await page.locator('.subtitle .badge', { hasText: 'Completed' }).waitFor();
    assert.deepEqual(takeRequests(), [], 'the page asked the service again');
    assert.equal(await page.evaluate(() => window.sameDocument), true, 'the page was reloaded');

    step('ten minutes pass on the page clock: no request (nothing polls)');
    await page.clock.runFor(10 * 60 * 1000);
    assert.deepEqual(takeRequests(), [], 'the page polls');
    await screenshot('build');
  },

  /** Cancel from the build's page: the status, the timeline and the buttons follow. */
  async cancel() {
    await signIn(fixture.tokens.operator);
    await page.goto(`${base}#/builds/${encodeURIComponent(fixture.builds.running)}`);
    await page.locator('.subtitle .badge', { hasText: 'Running' }).waitFor();
    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: /^Cancel build/ }).click();
    await page.locator('.subtitle .badge', { hasText: 'Cancelled' }).waitFor();
    await page.locator('.timeline li', { hasText: 'Running → Cancelled' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Cancel build/ }).count(), 0);
    await screenshot('cancelled');
  },

  /** Validation errors of the API appear next to the field they name, which takes the focus. */
  async validation() {
    await signIn(fixture.tokens.admin);
    await page.goto(`${base}#/definitions/${encodeURIComponent(fixture.definitions.ubuntu)}`);
    await heading(fixture.names.ubuntu).waitFor();

    step('an output VMID out of range');
    await page.getByLabel('Output VMID').fill('5');
    await page.getByRole('button', { name: 'Queue build' }).click();
    await expectFieldError('queue-vmid', /between 100 and 999999999/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'queue-vmid');
    await screenshot('queue-error');

    step('an unknown variable');
    await page.getByLabel('Output VMID').fill('9200');
    await page.getByLabel('Variables (JSON object)').fill('{"colour": "red"}');
    await page.getByRole('button', { name: 'Queue build' }).click();
    await expectFieldError('queue-variables', /colour/);
    assert.equal(await page.locator('#queue-vmid').getAttribute('aria-invalid'), null);

    step('a settings value out of range');
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByLabel('Maximum concurrent builds').fill('0');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expectFieldError('settings-imageFactoryMaxConcurrentBuilds', /between 1 and 1000/);
    await screenshot('settings-error');
  },

  /** A VIEWER sees no action: no queue form, no cancel, no rebuild, no settings form. */
  async viewer() {
    await signIn(fixture.tokens.viewer);
    const pages = [
      ['#/builds', 'Image builds'],
      [`#/builds/${encodeURIComponent(fixture.builds.running)}`, /^Build /],
      [`#/builds/${encodeURIComponent(fixture.builds.completed)}`, /^Build /],
      ['#/definitions', 'Image definitions'],
      [`#/definitions/${encodeURIComponent(fixture.definitions.ubuntu)}`, fixture.names.ubuntu],
      ['#/settings', 'Plugin settings'],
    ];
    for (const [fragment, title] of pages) {
      step(`no action on ${fragment}`);
      await page.goto(`${base}${fragment}`);
      await heading(title).waitFor();
      await page.locator('.loading').waitFor({ state: 'detached' });
      const buttons = await main().getByRole('button').allTextContents();
      assert.deepEqual(buttons.filter((name) => name !== 'Search'), [], `${fragment}: ${buttons}`);
      assert.equal(await main().locator('form.form').count(), 0, `${fragment} has a form`);
    }
    await page.getByText('Only administrators can change the settings.').waitFor();
  },

  /**
   * A dropped connection: what happens meanwhile arrives after it comes back, from the history
   * (`afterEventId`), over the websocket alone.
   */
  async reconnect() {
    await signIn(fixture.tokens.viewer);
    await page.goto(`${base}#/builds/${encodeURIComponent(fixture.builds.pending)}`);
    await page.locator('.subtitle .badge', { hasText: 'Pending' }).waitFor();
    await panelsSettled();
    await ask({ subscribers: 1 });
    takeRequests();

    step('the connection drops; the build starts and completes meanwhile');
    await ask({ cut: true });
    await page.locator('[data-live="reconnecting"]').waitFor();
    await asClient('worker', START_BUILD, { id: fixture.builds.pending });
    await asClient('worker', COMPLETE_BUILD, { id: fixture.builds.pending });
    await ask({ restore: true });

    step('both changes arrive once it is back');
    await live();
    await page.locator('.timeline li', { hasText: 'Pending → Running' }).waitFor();
    await page.locator('.timeline li', { hasText: 'Running → Completed' }).waitFor();
    await page.locator('.subtitle .badge', { hasText: 'Completed' }).waitFor();
    assert.equal(await page.locator('.timeline li').count(), 3);
    assert.deepEqual(takeRequests(), [], 'the page asked the service again instead of resuming');
  },

  /**
   * The Packer template and the build log (SPEC §7.4, §7.5) show when the service has them, and
   * hide — asked once, then never again in this tab — when it does not yet.
   */
  async panels() {
    const { packerTemplate, log } = fixture.features;
    await signIn(fixture.tokens.admin);
    const section = (name) => page.getByRole('region', { name, exact: true });
    const asked = (field) => everyRequest.filter((r) => r.body.includes(field)).length;

    step(`definition page (packerTemplate ${packerTemplate ? 'present' : 'absent'})`);
    await page.goto(`${base}#/definitions/${encodeURIComponent(fixture.definitions.ubuntu)}`);
    await heading(fixture.names.ubuntu).waitFor();
    await section('Builds').waitFor();
    if (packerTemplate) {
      await section('Packer template').locator('pre', { hasText: 'source "proxmox-clone"' }).waitFor();
    } else {
      // The panel is drawn with the page, then hidden once the service refused the field.
      await section('Packer template').waitFor({ state: 'detached' });
    }

    for (const status of ['running', 'completed']) {
      step(`${status} build page (log ${log ? 'present' : 'absent'})`);
      await page.goto(`${base}#/builds/${encodeURIComponent(fixture.builds[status])}`);
      await section('Timeline').waitFor();
      if (log) {
        await section('Build log').waitFor();
      } else {
        await section('Build log').waitFor({ state: 'detached' });
      }
      if (packerTemplate) {
        await section('Packer template').locator('pre', { hasText: 'source "proxmox-clone"' }).waitFor();
      } else {
        await section('Packer template').waitFor({ state: 'detached' });
      }
    }
    if (!packerTemplate) assert.equal(asked('packerTemplate'), 1, 'the missing template was asked again');
    if (!log) assert.equal(asked('query BuildLog'), 1, 'the missing log was asked again');
    assert.deepEqual(pageErrors, []);
    await screenshot('build');
  },

  /** Search, filters and paging of both lists. */
  async filters() {
    await signIn(fixture.tokens.admin);
    await page.getByRole('link', { name: 'Definitions', exact: true }).click();
    await heading('Image definitions').waitFor();

    step('search');
    await page.getByLabel('Search name or description').fill('docker');
    await page.getByLabel('Search name or description').press('Enter');
    await listShows('q=docker');
    await page.locator('.count', { hasText: `${fixture.dockerDefinitions} definitions` }).waitFor();
    for (const name of await page.locator('tbody th').allTextContents()) assert.match(name, /docker/i);

    step('builder type');
    await page.getByLabel('Builder', { exact: true }).selectOption('PROXMOX_ISO');
    await listShows('q=docker&builderType=PROXMOX_ISO');
    for (const builder of await page.locator('td[data-label="Builder"]').allTextContents()) {
      assert.equal(builder, 'Proxmox ISO');
    }
    await page.getByRole('link', { name: 'Clear filters' }).click();
    await listShows('');
    await page.locator('.count', { hasText: `${fixture.definitionCount} definitions` }).waitFor();

    step('builds by status');
    await page.getByRole('link', { name: 'Builds', exact: true }).click();
    await page.getByLabel('Status', { exact: true }).selectOption('FAILED');
    await listShows('status=FAILED');
    const statuses = await page.locator('tbody .badge').allTextContents();
    assert.ok(statuses.length > 0);
    assert.deepEqual([...new Set(statuses)], ['Failed']);

    step('paging');
    await page.getByRole('link', { name: 'Clear filters' }).click();
    await listShows('');
    await page.locator('.count', { hasText: `${fixture.buildCount} builds` }).waitFor();
    const firstPage = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.build));
    await page.getByRole('link', { name: 'Next page →' }).click();
    await page.locator('[data-shown^="after="][aria-busy="false"]').waitFor();
    const secondPage = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.build));
    assert.equal(secondPage.length, 25);
    assert.ok(secondPage.every((id) => !firstPage.includes(id)), 'pages overlap');
    await page.getByRole('link', { name: '← Previous page' }).click();
    await page.locator('[data-shown^="before="][aria-busy="false"]').waitFor();
    assert.deepEqual(await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.build)), firstPage);
  },

  /**
   * The main pages at 1280 px and at a phone's 390 px: nothing wider than the screen, every
   * control labelled, the focus visible, a skip link first; screenshots of each.
   */
  async layout() {
    await signIn(fixture.tokens.admin);
    const pages = [
      ['builds', '#/builds', 'Image builds'],
      ['build', `#/builds/${encodeURIComponent(fixture.builds.failed)}`, /^Build /],
      ['definitions', '#/definitions', 'Image definitions'],
      ['definition', `#/definitions/${encodeURIComponent(fixture.definitions.ubuntu)}`, fixture.names.ubuntu],
      ['settings', '#/settings', 'Plugin settings'],
    ];
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 1280 ? 900 : 844 });
      for (const [name, fragment, title] of pages) {
        step(`${name} at ${width} px`);
        await page.goto(`${base}${fragment}`);
        await heading(title).waitFor();
        await page.locator('.loading').waitFor({ state: 'detached' });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${name} is ${overflow} px wider than ${width} px`);
        const unlabelled = await page.locator('input, select, textarea').evaluateAll((controls) => controls
          .filter((c) => c.labels.length === 0 && !c.getAttribute('aria-label'))
          .map((c) => c.outerHTML));
        assert.deepEqual(unlabelled, [], `${name}: controls without a label`);
        await screenshot(`${name}-${width}`, { fullPage: false });
      }
    }

    step('keyboard: the skip link comes first and moves to the content; the focus is visible');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${base}#/builds`);
    await page.reload();
    await heading('Image builds').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement);
      return { tag: document.activeElement.tagName, style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.notEqual(ring.style, 'none', JSON.stringify(ring));
    assert.ok(ring.width >= 2, JSON.stringify(ring));
  },
};

// --- run one case ----------------------------------------------------------------------------

let failed = false;
try {
  assert.ok(cases[caseName], `no case named ${caseName}`);
  await cases[caseName]();
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  const elsewhere = everyRequest.filter((request) => !request.url.startsWith(origin) && !request.url.startsWith('data:'));
  assert.deepEqual(elsewhere, [], 'the page asked another host');
} catch (error) {
  failed = true;
  process.stderr.write(`${caseName} failed: ${error.stack ?? error}\n`);
  await screenshot('failure').catch(() => {});
} finally {
  await context.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
}
send({ done: !failed });
process.exit(failed ? 1 : 0);
