// What a security analyst sees of one alert in the collector's web console, for the kernel
// end-to-end test (tests/kernel/test_console.py): logs in with the token, waits for the alert's
// row in the timeline, opens its detail, and prints one JSON object of what the pages showed.
//   CONSOLE_TOKEN=... node timeline_check.js https://127.0.0.1:PORT ALERT_ID OUT_DIR [WAIT_MS]
// OUT_DIR gets timeline.png, detail.png, and pages.txt (every page's HTML and every API answer,
// for the caller's leak scan). Exit 0 with {"ok": true, ...}; 1 with {"ok": false, "error"}.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const puppeteer = require('puppeteer-core');

const [base, alertId, outDir, waitArg] = process.argv.slice(2);
const token = process.env.CONSOLE_TOKEN || '';
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = Number(waitArg || 15000);

async function main(seen) {
  if (!base || !alertId || !outDir || !token) throw new Error('usage: CONSOLE_TOKEN=... node timeline_check.js URL ALERT_ID OUT_DIR [WAIT_MS]');
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    acceptInsecureCerts: true,  // the test CA is not in the browser's store
    userDataDir: fs.mkdtempSync(path.join(outDir, 'chromium-profile-')),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    protocolTimeout: 30000,
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.setViewport({ width: 1280, height: 900 });
    const answers = [];
    page.on('response', async (res) => {
      if (!res.url().includes('/api/')) return;
      try { answers.push(await res.text()); } catch { /* redirects and aborted loads have none */ }
    });
    const pages = [];
    const keep = async () => pages.push(await page.content());
    const shot = (name) => page.screenshot({ path: path.join(outDir, name + '.png'), fullPage: true });
    try {
      seen.step = 'login';
      await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('#login-view:not([hidden])');
      await page.type('#token', token);
      await page.click('#login-button');
      await page.waitForSelector('#alerts-view:not([hidden])');

      seen.step = 'timeline row';
      const row = '#alerts-body tr[data-id=' + JSON.stringify(alertId) + ']';
      await page.waitForSelector(row, { timeout: WAIT_MS });
      seen.row = await page.$eval(row, (tr) => ({
        text: tr.textContent,
        cells: Array.from(tr.cells, (td) => td.textContent),
      }));
      seen.row.columns = await page.$$eval('#alerts-view thead th', (ths) => ths.map((th) => th.textContent));
      await keep();
      await shot('timeline');

      seen.step = 'detail';
      await page.click(row);
      await page.waitForSelector('#alert-view:not([hidden])');
      await page.waitForFunction(() => document.querySelector('#alert-detail').textContent.includes('Fingerprint'));
      // Each section's <dl>: the first untitled (the alert's own fields), then one per <h3>.
      seen.detail = await page.$eval('#alert-detail', (root) => {
        const sections = {};
        let title = '';
        for (const node of root.children) {
          if (node.tagName === 'H3') title = node.textContent;
          if (node.tagName !== 'DL') continue;
          const fields = (sections[title] = {});
          const dts = node.querySelectorAll('dt');
          for (const dt of dts) fields[dt.textContent] = dt.nextElementSibling ? dt.nextElementSibling.textContent : '';
        }
        return sections;
      });
      seen.title = await page.$eval('#alert-title', (e) => e.textContent);
      await keep();
      await shot('detail');
    } catch (e) {
      try { await keep(); await shot('failed'); } catch { /* the page may be gone */ }
      throw e;
    } finally {
      fs.writeFileSync(path.join(outDir, 'pages.txt'), pages.concat(answers).join('\n----\n'));
    }
  } finally {
    await browser.close();
  }
}

const seen = { ok: false, url: base, id: alertId };
main(seen)
  .then(() => { seen.ok = true; delete seen.step; })
  .catch((e) => { seen.error = 'at ' + seen.step + ': ' + e.message; })
  .finally(() => {
    process.stdout.write(JSON.stringify(seen) + '\n');
    process.exit(seen.ok ? 0 : 1);
  });
