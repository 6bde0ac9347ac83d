// Browser tests of the collector's web console: the real credsentry-collector on 127.0.0.1
// with its own temp dirs, Debian's chromium (headless, through puppeteer-core), and alerts
// built by the agent's report code (credsentry_console_seed). Each step says what a user would
// notice; any failed step fails the run. Screenshots go to $CONSOLE_TEST_OUT.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const puppeteer = require('puppeteer-core');

const root = path.resolve(__dirname, '../..');
const build = path.resolve(root, process.env.BUILD_DIR || 'build');
const collectorBin = path.join(build, 'collector/credsentry-collector');
const seedBin = path.join(build, 'collector/tests/credsentry_console_seed');
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const outDir = process.env.CONSOLE_TEST_OUT || path.join(build, 'console-test-output');
const STEP_MS = 15000;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'credsentry-console-'));
const pki = path.join(work, 'pki');
const token = crypto.randomBytes(24).toString('hex');
// A synthetic Anthropic-shaped key, random per run: it must never reach a page or an answer.
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const secret = 'sk-ant-api03-' + Array.from(crypto.randomBytes(93), (b) => alphabet[b % 62]).join('') + 'AA';

let collector = null;
let consolePort = 0, grpcPort = 0;
const failures = [];
const answers = [];  // every API answer body the browser received

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function waitFor(what, fn, ms = STEP_MS) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(100);
  }
}

function check(cond, message) { if (!cond) throw new Error(message); }

async function startCollector() {
  for (const f of ['grpc.port', 'console.port']) fs.rmSync(path.join(work, f), { force: true });
  const log = fs.openSync(path.join(work, 'collector.log'), 'a');
  collector = spawn(collectorBin, [
    'serve', '--listen', '127.0.0.1:' + grpcPort, '--db', path.join(work, 'collector.db'),
    '--ca', path.join(pki, 'ca.pem'), '--cert', path.join(pki, 'server.pem'),
    '--key', path.join(pki, 'server.key'), '--port-file', path.join(work, 'grpc.port'),
    '--console-listen', '127.0.0.1:' + consolePort,
    '--console-token-file', path.join(work, 'tokens'),
    '--console-port-file', path.join(work, 'console.port')], { stdio: ['ignore', log, log] });
  const read = (f) => { try { return parseInt(fs.readFileSync(path.join(work, f), 'utf8'), 10); } catch { return 0; } };
  grpcPort = await waitFor('the collector to listen', () => read('grpc.port'));
  consolePort = await waitFor('the console to listen', () => read('console.port'));
}

async function stopCollector() {
  if (!collector) return;
  const exited = new Promise((r) => collector.once('exit', r));
  collector.kill('SIGTERM');
  await Promise.race([exited, sleep(10000)]);
  collector = null;
}

function seed(id, host) {
  const out = execFileSync(seedBin, ['--collector', '127.0.0.1:' + grpcPort, '--pki', pki,
    '--host', host, '--id', id], { env: { ...process.env, CS_TEST_SECRET: secret }, timeout: 20000 });
  return out.toString().trim().split(' ')[2];  // the fingerprint
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  execFileSync(path.join(root, 'tests/collector/make-test-pki.sh'), [pki, 'runner-1', 'runner-2'], { stdio: 'ignore' });
  fs.writeFileSync(path.join(work, 'tokens'), '# console test\nsoc-alice:' + token + '\n', { mode: 0o600 });
  await startCollector();
  const base = 'https://127.0.0.1:' + consolePort;

  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    acceptInsecureCerts: true,  // the test CA is not in the browser's store
    userDataDir: path.join(work, 'chromium-profile'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    protocolTimeout: 30000,
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_MS);
  await page.setViewport({ width: 1280, height: 900 });
  page.on('response', async (res) => {
    if (!res.url().includes('/api/')) return;
    try { answers.push(await res.text()); } catch { /* redirects and aborted loads have none */ }
  });
  const shot = (name) => page.screenshot({ path: path.join(outDir, name + '.png'), fullPage: true });
  const text = (sel) => page.$eval(sel, (e) => e.textContent);
  const apiStatus = (method, p, headers) => page.evaluate(async (m, u, h) =>
    (await fetch(u, { method: m, headers: h || {}, body: m === 'POST' ? '{}' : undefined })).status,
  method, p, headers);

  const steps = [
    ['the API refuses a browser without a session (401)', async () => {
      await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('#login-view:not([hidden])');
      check(await apiStatus('GET', '/api/v1/alerts') === 401, 'GET alerts without a session is not 401');
      check(await apiStatus('GET', '/api/v1/hosts') === 401, 'GET hosts without a session is not 401');
      check(await apiStatus('POST', '/api/v1/alerts/x/ack') === 401, 'POST ack without a session is not 401');
    }],
    ['a bad token is refused with 401 and the page says so', async () => {
      await page.type('#token', 'not-the-token-' + token.slice(0, 8));
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/api/v1/login')),
        page.click('#login-button')]);
      check(res.status() === 401, 'login answered ' + res.status());
      await page.waitForFunction(() => document.querySelector('#login-error').textContent.includes('Login failed (401)'));
      check(await page.$eval('#alerts-view', (e) => e.hidden), 'the timeline shows after a bad login');
      await shot('01-bad-login');
    }],
    ['the right token logs in and shows the timeline', async () => {
      await page.type('#token', token);
      await page.click('#login-button');
      await page.waitForSelector('#alerts-view:not([hidden])');
      check((await text('#who-name')).includes('soc-alice'), 'the page does not name the user');
      const cookies = await browser.cookies();
      const session = cookies.find((c) => c.name === 'cs_session');
      check(session && session.httpOnly && session.secure && session.sameSite === 'Strict', 'cookie flags: ' + JSON.stringify(session));
      check(!(await page.evaluate(() => document.cookie)).includes('cs_session'), 'page scripts can read the session cookie');
    }],
    ['a POST with the session but without the CSRF token is refused', async () => {
      const s = await apiStatus('POST', '/api/v1/alerts/x/ack');
      check(s === 403 || s === 401, 'POST without X-CSRF-Token answered ' + s);
    }],
    ['an alert sent by an agent appears in the timeline without a reload', async () => {
      await page.evaluate(() => { window.__notReloaded = true; });
      await sleep(300);
      state.fingerprint = seed('console-e2e-1', 'runner-1');
      await page.waitForSelector('#alerts-body tr[data-id="console-e2e-1"]');
      check(await page.evaluate(() => window.__notReloaded === true), 'the page was reloaded');
      const row = await text('#alerts-body tr[data-id="console-e2e-1"]');
      check(row.includes('runner-1') && row.includes('critical'), 'row: ' + row);
      await shot('02-timeline');
    }],
    ['the host filter shows only that host', async () => {
      seed('console-e2e-2', 'runner-2');
      await page.waitForSelector('#alerts-body tr[data-id="console-e2e-2"]');
      await page.$eval('#f-host', (e) => { e.value = 'runner-2'; });
      await page.click('#apply-filters');
      await page.waitForFunction(() => !document.querySelector('#alerts-body tr[data-id="console-e2e-1"]'));
      const ids = await page.$$eval('#alerts-body tr', (rows) => rows.map((r) => r.dataset.id));
      check(JSON.stringify(ids) === '["console-e2e-2"]', 'filtered rows: ' + ids);
      await shot('03-filter-host');
      await page.$eval('#f-host', (e) => { e.value = ''; });
      await page.click('#apply-filters');
      await page.waitForSelector('#alerts-body tr[data-id="console-e2e-1"]');
    }],
    ['the detail view shows the preview, the fingerprint and the evidence', async () => {
      await page.click('#alerts-body tr[data-id="console-e2e-1"]');
      await page.waitForSelector('#alert-view:not([hidden])');
      await page.waitForFunction(() => document.querySelector('#alert-detail').textContent.includes('Fingerprint'));
      const detail = await text('#alert-detail');
      check(detail.includes(secret.slice(0, 7) + '…' + secret.slice(-4)), 'no redacted preview in: ' + detail.slice(0, 400));
      check(detail.includes(state.fingerprint), 'fingerprint ' + state.fingerprint + ' missing');
      for (const want of ['paste.example', 'sni', 'npm install', 'acme/web', 'ci-runner.service', '/home/ci/.config/anthropic/key', 'base64']) {
        check(detail.includes(want), 'detail lacks ' + want);
      }
      await shot('04-detail');
    }],
    ['acknowledging records the token name and time, and the audit log shows it', async () => {
      await page.click('#ack-button');
      await page.waitForFunction(() => document.querySelector('#ack-state').textContent.startsWith('Acknowledged by soc-alice at 20'));
      await shot('05-acknowledged');
      await page.goto(base + '/#audit', { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('#audit-view:not([hidden]) #audit-body tr');
      const row = await text('#audit-body tr');
      check(row.includes('soc-alice') && row.includes('alert-acknowledged') && row.includes('console-e2e-1') && /20\d\d-/.test(row), 'audit row: ' + row);
      await shot('06-audit');
    }],
    ['the acknowledgement persists across a collector restart', async () => {
      await stopCollector();
      await startCollector();  // same ports, same database; sessions are gone
      await page.goto(base + '/#alert/console-e2e-1', { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('#login-view:not([hidden])');
      await page.type('#token', token);
      await page.click('#login-button');
      await page.waitForFunction(() => document.querySelector('#ack-state').textContent.startsWith('Acknowledged by soc-alice'));
    }],
    ['a credential shows where it went and can be marked rotated', async () => {
      await page.goto(base + '/#credentials', { waitUntil: 'domcontentloaded' });
      await page.waitForFunction((fp) => document.querySelector('#credentials-body').textContent.includes(fp), {}, state.fingerprint);
      await shot('07-credentials');
      await page.click('#credentials-body tr');
      await page.waitForSelector('#credential-view:not([hidden])');
      await page.waitForFunction(() => document.querySelector('#credential-detail').textContent.includes('paste.example'));
      const sent = await text('#credential-detail');
      check(sent.includes('runner-1') && sent.includes('runner-2'), 'hosts it left from: ' + sent);
      await page.click('#rotated-button');
      await page.waitForFunction(() => document.querySelector('#rotated-state').textContent.startsWith('Rotated, marked by soc-alice at 20'));
      await shot('08-rotated');
    }],
    ['the hosts view answers', async () => {
      await page.goto(base + '/#hosts', { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('#hosts-view:not([hidden])');
    }],
    ['no page and no API answer holds the raw secret', async () => {
      check(answers.length >= 8, 'only ' + answers.length + ' API answers were seen');
      for (const body of answers) check(!body.includes(secret) && !body.includes(secret.slice(13, 45)), 'an API answer holds the secret');
      for (const [view, shows] of [['#alerts', 'runner-1'], ['#alert/console-e2e-1', 'Fingerprint'],
        ['#credentials', 'anthropic'], ['#audit', 'soc-alice']]) {
        // A query string makes each one a full page load, not a same-document hash change.
        await page.goto(base + '/?view' + view, { waitUntil: 'domcontentloaded' });
        await page.waitForFunction((want) => document.querySelector('main').textContent.includes(want), {}, shows);
        const html = await page.content();
        check(!html.includes(secret) && !html.includes(secret.slice(13, 45)), view + ' holds the secret');
      }
      check(!fs.readFileSync(path.join(work, 'collector.log'), 'utf8').includes(token), 'the log holds the console token');
    }],
  ];
  for (const [name, fn] of steps) {
    try {
      await fn();
      console.log('PASS ' + name);
    } catch (e) {
      failures.push(name);
      console.log('FAIL ' + name + ': ' + e.message);
      try { await shot('failed-' + failures.length); } catch { /* the page may be gone */ }
    }
  }
  await browser.close();
}

const state = {};
main()
  .catch((e) => { failures.push('setup'); console.log('FAIL setup: ' + e.stack); })
  .finally(async () => {
    await stopCollector();
    if (failures.length) console.log(fs.readFileSync(path.join(work, 'collector.log'), 'utf8').split('\n').slice(-20).join('\n'));
    fs.rmSync(work, { recursive: true, force: true });
    console.log(failures.length ? failures.length + ' failed' : 'all passed' + ' (screenshots in ' + outDir + ')');
    process.exit(failures.length ? 1 : 0);
  });
