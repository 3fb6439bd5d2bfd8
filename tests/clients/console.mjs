// Drives the operator console (/console) in Debian's headless Chromium through the DevTools protocol
// (puppeteer-core; no browser download): the sources page lists every source with its freshness as a
// word; read-only without a token; the token is entered once; a dry run of SOURCE is triggered and
// the page shows it running, then its end; its page shows its rejected rows, the same as GraphQL
// says, and the CSV link serves them. Screenshots at desktop (1400x900) and phone (390x844) widths
// go to OUT_DIR. Any error in the page (a script error, a CSP violation) fails the check.
//
// Usage: node console.mjs BASE_URL TOKEN SOURCE COUNTRIES OUT_DIR
import assert from 'node:assert/strict';
import puppeteer from 'puppeteer-core';

const [base, token, source, countries, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node console.mjs BASE_URL TOKEN SOURCE COUNTRIES OUT_DIR');
  process.exit(2);
}

async function graphql(query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.ok(!body.errors, JSON.stringify(body.errors));
  return body.data;
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
let failed = false;
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  await page.setViewport({ width: 1400, height: 900 });

  // 1. Sources, read-only.
  const expected = (await graphql('{ sources { name stale failing } }')).sources;
  await page.goto(`${base}/console`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('tr[data-source]');
  const shown = await page.$$eval('tr[data-source]', (rows) => rows.map((r) => ({
    name: r.dataset.source,
    freshness: r.querySelector('[data-freshness]').textContent.trim(),
  })));
  assert.equal(shown.length, expected.length, 'every source is listed');
  for (const s of expected) {
    const row = shown.find((r) => r.name === s.name);
    assert.ok(row, `source ${s.name} listed`);
    assert.equal(row.freshness, s.failing ? 'failing' : s.stale ? 'stale' : 'fresh', `freshness of ${s.name} as a word`);
  }
  await page.waitForSelector('tr[data-country]');
  const countryRows = await page.$$eval('tr[data-country]', (rows) => rows.length);
  assert.ok(countryRows > 0, 'rows per theme and country are shown');
  console.log(`console: sources page lists ${shown.length} sources (${shown.map((s) => `${s.name} ${s.freshness}`).join(', ')}) and ${countryRows} countries' rows per theme`);
  await page.screenshot({ path: `${outDir}/console-sources.png`, fullPage: true });

  // The first Tab reaches the skip link (keyboard users start there).
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');

  // 2. Without a token the console is read-only.
  await page.goto(`${base}/console#/run-now?source=${encodeURIComponent(source)}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#run-submit');
  assert.equal(await page.$eval('#run-submit', (b) => b.disabled), true, 'Run now is disabled without a token');
  assert.ok(await page.$('[data-read-only]'), 'the read-only note is shown');

  // 3. The token, asked once and kept for the tab.
  await page.click('#token-button');
  await page.waitForSelector('#token-dialog[open]');
  await page.type('#token-input', token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#token-state[data-state="operator"]');
  await page.waitForFunction(() => !document.querySelector('#run-submit').disabled);

  // 4. A dry run; record every status and progress text the result shows until the run ends.
  await page.evaluate(() => {
    window.seen = [];
    const note = () => {
      const status = document.querySelector('#result-status');
      if (!status) return;
      const progress = document.querySelector('#run-result .progress');
      const entry = `${status.dataset.status}|${progress ? progress.textContent.trim() : ''}`;
      if (window.seen[window.seen.length - 1] !== entry) window.seen.push(entry);
    };
    new MutationObserver(note).observe(document.getElementById('view'), { subtree: true, childList: true, attributes: true, characterData: true });
  });
  if (countries) await page.type('#run-countries', countries);
  await page.click('#run-dry');
  await page.click('#run-submit');
  await page.waitForSelector('#result-status');
  const started = await page.$eval('#result-status', (e) => e.dataset.status);
  assert.equal(started, 'running', 'the result shows the run at once, running');
  const firstRun = await page.$eval('#run-result a', (a) => a.getAttribute('href'));
  // Asking again while it runs starts nothing: the answer says so at once, with a link to that run.
  await page.click('#run-submit');
  await page.waitForSelector('[data-already-running]', { timeout: 10_000 });
  assert.equal(await page.$eval('#run-result a', (a) => a.getAttribute('href')), firstRun, 'already running links to the run');
  await page.screenshot({ path: `${outDir}/console-run-started.png`, fullPage: true });
  await page.waitForFunction(() => document.querySelector('#result-status').dataset.status !== 'running', { timeout: 120_000 });
  const seen = await page.evaluate(() => window.seen);
  const ended = await page.$eval('#result-status', (e) => e.dataset.status);
  const liveMode = await page.$eval('#live-state', (e) => e.textContent);
  console.log(`console: the result went through ${seen.length} states: ${seen.join(' -> ')}; live: ${liveMode}`);
  assert.equal(ended, 'succeeded', `the run ends succeeded (${seen.join(' -> ')})`);
  assert.ok(seen.length >= 2 && seen[0].startsWith('running|'), 'progress moved from running to the end');
  const runNumber = Number(await page.$eval('#run-result a', (a) => a.getAttribute('href').split('/').pop()));
  // Where the server reports them, the live parts must have been used and shown: the subscription
  // (not the polling fallback), the phases and the rows read so far growing.
  const schema = await graphql(`{ __schema { subscriptionType { fields { name } } }
      run: __type(name: "IngestRun") { fields { name } } }`);
  const runFields = new Set(schema.run.fields.map((f) => f.name));
  const subscriptionFields = new Set(((schema.__schema.subscriptionType || {}).fields || []).map((f) => f.name));
  if (subscriptionFields.has('ingestRunUpdated')) {
    assert.match(liveMode, /subscribed over WebSocket/, 'the console used the subscription');
  }
  if (runFields.has('progress')) {
    const rowsSeen = seen.map((s) => Number((s.match(/([\d,]+) rows so far/) || ['', '0'])[1].replace(/,/g, '')));
    assert.ok(Math.max(...rowsSeen) > 0, `rows so far grew during the run (${seen.join(' -> ')})`);
  }
  if (runFields.has('phase')) {
    const phases = new Set(seen.map((s) => s.split('|')[1].split(' ')[0]).filter(Boolean));
    assert.ok(phases.size >= 2, `more than one phase was shown (${[...phases].join(', ')})`);
  }

  // 5. The run's page: its end state, its rejected rows (as GraphQL has them) and the CSV.
  await page.$eval('#run-result a', (a) => a.click());
  await page.waitForSelector('#run-status');
  const truth = (await graphql('query Run($id: ID!) { ingestRun(id: $id) { status dryRun rejected rejectedRows(first: 1000) { rowNumber reason } } }', { id: String(runNumber) })).ingestRun;
  assert.equal(truth.dryRun, true);
  assert.equal(await page.$eval('#run-status', (e) => e.dataset.status), truth.status);
  const rows = await page.$$eval('tr[data-row]', (trs) => trs.map((tr) => Number(tr.dataset.row)));
  assert.deepEqual(rows, truth.rejectedRows.slice(0, 25).map((r) => r.rowNumber), 'the page shows the rejected rows');
  const title = await page.$eval('#rejected-title', (e) => e.textContent);
  assert.ok(title.includes(`(${truth.rejected})`), title);
  const csv = await page.evaluate(async () => {
    const link = document.querySelector('a[href$="rejected.csv"]');
    const response = await fetch(link.href);
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  });
  assert.equal(csv.status, 200);
  assert.match(csv.type, /^text\/csv/);
  const lines = csv.text.trim().split(/\r?\n/);
  assert.equal(lines[0], 'row_number,reason,raw');
  assert.deepEqual(lines.slice(1).map((l) => Number(l.split(',')[0])), truth.rejectedRows.map((r) => r.rowNumber));
  if (runFields.has('payloads')) {
    const payloads = (await graphql('query P($id: ID!) { ingestRun(id: $id) { payloads { url httpStatus } } }', { id: String(runNumber) })).ingestRun.payloads;
    const shownPayloads = await page.$$eval('section[aria-labelledby="payloads-title"] tbody tr', (trs) => trs.map((tr) => tr.querySelector('code').textContent));
    assert.ok(payloads.length > 0, 'the run fetched payloads');
    assert.deepEqual(shownPayloads, payloads.map((p) => p.url), 'the page lists the payloads the run fetched');
  }
  console.log(`console: run ${runNumber} (${source}, dry run) ended ${truth.status}; its page shows ${rows.length} of ${truth.rejected} rejected rows (rows ${rows.join(', ')}), and its CSV has the same ${lines.length - 1}`);
  await page.screenshot({ path: `${outDir}/console-run.png`, fullPage: true });

  // Cancel: another dry run, cancelled from its page, ends cancelled.
  await page.goto(`${base}/console#/run-now?source=${encodeURIComponent(source)}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#run-submit:not([disabled])');
  if (countries) await page.type('#run-countries', countries);
  await page.click('#run-dry');
  await page.click('#run-submit');
  // Clicked inside the page in one step: the live updates re-render these elements, and a handle
  // taken a moment before may already be detached (seen in CI).
  await page.waitForSelector('#run-result a');
  await page.$eval('#run-result a', (a) => a.click());
  await page.waitForSelector('#run-status');
  const cancelXpath = 'xpath/.//button[text()="Cancel this run"]';
  await page.waitForSelector(cancelXpath, { timeout: 10_000 });
  await page.$eval(cancelXpath, (button) => button.click());
  await page.waitForFunction(() => {
    const status = document.querySelector('#run-status');
    return status && status.dataset.status !== 'running';
  }, { timeout: 60_000 });
  const cancelled = await page.$eval('#run-status', (e) => e.dataset.status);
  assert.equal(cancelled, 'cancelled', 'the cancelled run ends cancelled');
  console.log('console: a second dry run, cancelled from its page, ended cancelled');

  // The webhook delivery log (where the server keeps one) or a note that there is none.
  await page.goto(`${base}/console#/webhooks`, { waitUntil: 'networkidle0' });
  await page.waitForFunction(() => document.querySelector('h1') && document.querySelector('h1').textContent === 'Webhook deliveries');
  assert.ok(await page.$('#view table, #view .empty, #view .note'), 'the webhooks page answers');

  // Dark: the page follows prefers-color-scheme.
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  await page.goto(`${base}/console#/runs/${runNumber}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#run-status');
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, 'rgb(17, 20, 24)', 'the dark palette is used');
  await page.screenshot({ path: `${outDir}/console-run-dark.png`, fullPage: true });
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);

  // 6. Phone width: the same pages as cards.
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  await page.goto(`${base}/console#/sources`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('tr[data-source]');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no horizontal scrolling at phone width (${overflow}px too wide)`);
  await page.screenshot({ path: `${outDir}/console-sources-phone.png`, fullPage: false });
  await page.goto(`${base}/console#/runs/${runNumber}`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#run-status');
  await page.screenshot({ path: `${outDir}/console-run-phone.png`, fullPage: false });
  await page.goto(`${base}/console#/runs`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('tr[data-run]');
  await page.screenshot({ path: `${outDir}/console-runs-phone.png`, fullPage: false });

  assert.deepEqual(problems, [], 'no script error or CSP violation in the page');
  console.log(`console check passed (screenshots: ${outDir}/console-*.png)`);
} catch (e) {
  failed = true;
  console.error(`console check FAILED: ${e.stack || e}`);
  if (problems.length) console.error(problems.join('\n'));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
