// Browser test of the web UI: starts `tanzhen serve` with the reference models on a free port,
// drives the page in Debian's headless Chromium through playwright-core, and checks that what
// the page shows is what the API answers: highlighted spans = the API's entities (short text,
// and a long text streamed piece by piece), probability bars = the API's candidates. Saves
// screenshots (desktop and phone width) as artifacts.
//
// Usage: node ui.test.mjs TANZHEN_BINARY SHARED_DIR ARTIFACT_DIR PLAYWRIGHT_DIR
// (ctest runs it after tests/browser/npm_install.sh PLAYWRIGHT_DIR; see tests/CMakeLists.txt)
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const [binary, sharedDir, artifactDir, playwrightDir] = process.argv.slice(2);
if (!playwrightDir) {
  console.error('usage: node ui.test.mjs TANZHEN_BINARY SHARED_DIR ARTIFACT_DIR PLAYWRIGHT_DIR');
  process.exit(2);
}
const require = createRequire(path.resolve(playwrightDir, 'package.json'));
const { chromium } = require('playwright-core');

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

function startServer() {
  const models = path.join(sharedDir, 'reference', 'models');
  const proc = spawn(binary, ['serve', '--port', '0', '--log-level', 'warn',
    '--ner', path.join(models, 'tiny-bert-ner'), '--fill-mask', path.join(models, 'tiny-bert-mlm')],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 30000);
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        resolve({ proc, url: m[1] });
      }
    });
  });
}

async function api(url, route, body) {
  const res = await fetch(url + route, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${route}: ${res.status}`);
  return res;
}

// The highlighted spans as the page shows them.
async function shownEntities(page) {
  return page.$$eval('#ner-rendered mark.ent', (marks) => marks.map((m) => ({
    type: m.dataset.type,
    start: Number(m.dataset.start),
    end: Number(m.dataset.end),
    text: m.querySelector('.ent-text').textContent,
  })));
}
const spans = (entities) => entities.map(({ type, start, end, text }) => ({ type, start, end, text }))
  .sort((a, b) => a.start - b.start);

async function main() {
  mkdirSync(artifactDir, { recursive: true });
  const { proc, url } = await startServer();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const failures = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const origin = new URL(url).origin;
    // Offline by design: the page may not load anything from elsewhere, nor log errors
    // (a Content-Security-Policy violation would show up here).
    page.on('request', (req) => {
      if (!req.url().startsWith(origin) && !req.url().startsWith('data:')) failures.push('external request: ' + req.url());
    });
    page.on('console', (msg) => { if (msg.type() === 'error') failures.push('console error: ' + msg.text()); });
    page.on('pageerror', (err) => failures.push('page error: ' + err.message));

    await page.goto(url + '/');
    await page.waitForSelector('#models-info:has-text("NER: tiny-bert-ner")');
    // The precision each model runs at (GET /v1/models "dtype").
    await page.waitForSelector('#models-info:has-text("fill-mask: tiny-bert-mlm (fp32)")');

    // 1. Type a sentence, run, compare the highlighted spans with the API's entities.
    const sentence = '我爱北京天安门，张三在上海工作。';
    await page.locator('#ner-text').pressSequentially(sentence);
    await page.click('#ner-run');
    await page.waitForSelector('#ner-output[data-state="done"]');
    const want = spans((await (await api(url, '/v1/ner', { text: sentence })).json()).entities);
    assert.ok(want.length > 0, 'the reference model finds entities in the test sentence');
    assert.deepEqual(await shownEntities(page), want, 'highlighted spans = API entities');
    // Legend counts and table rows agree with them too.
    const legend = await page.$$eval('#ner-legend li', (lis) => lis.map((li) => [li.dataset.type, li.querySelector('.count').textContent]));
    const counts = {};
    for (const e of want) counts[e.type] = (counts[e.type] || 0) + 1;
    assert.deepEqual(Object.fromEntries(legend.map(([t, c]) => [t, Number(c.slice(1))])), counts, 'legend counts');
    assert.equal(await page.locator('#ner-table tbody tr').count(), want.length, 'one table row per entity');
    assert.match(await page.textContent('#ner-latency'), /server [\d.]+ ms · round trip [\d.]+ ms/);
    await page.screenshot({ path: path.join(artifactDir, 'ui-ner.png'), fullPage: true });

    // 2. A long multi-paragraph example streams in; the result equals the stream's entities.
    await page.click('#ner-examples button:last-child');
    await page.waitForSelector('#ner-output[data-state="done"]');
    const longText = await page.inputValue('#ner-text');
    const stream = await (await api(url, '/v1/ner?stream=true', { text: longText })).text();
    const lines = stream.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.at(-1).done, 'stream ends with done');
    assert.ok(lines.length > 2, 'the long example is streamed in several pieces');
    const streamed = spans(lines.filter((l) => !l.done).flatMap((l) => l.entities));
    assert.ok(streamed.length > 0);
    assert.deepEqual(await shownEntities(page), streamed, 'streamed highlighted spans = API stream entities');
    await page.screenshot({ path: path.join(artifactDir, 'ui-ner-stream.png'), fullPage: true });

    // 3. Fill-mask: bars = the API's candidates, filled sentence = the API's.
    await page.click('#tab-fill');
    const masked = '北京是中国的[MASK]都。';
    await page.locator('#fill-text').fill(masked);
    await page.click('#fill-run');
    await page.waitForSelector('#fill-masks .bar-row');
    const fm = await (await api(url, '/v1/fill-mask', { text: masked, top_k: 5 })).json();
    const bars = await page.$$eval('#fill-masks .bar-row', (rows) => rows.map((r) => [
      r.querySelector('.bar-token').textContent, r.querySelector('.bar-pct').textContent]));
    assert.deepEqual(bars, fm.masks[0].candidates.map((c) => [c.token.replace(/^##/, ''), `${(c.score * 100).toFixed(1)}%`]));
    assert.equal(await page.textContent('#fill-sentence'), fm.filled);
    await page.waitForTimeout(400);  // let the bars finish growing for the screenshot
    await page.screenshot({ path: path.join(artifactDir, 'ui-fill-mask.png'), fullPage: true });

    // 4. Phone width: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#tab-ner');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than a phone screen`);
    await page.screenshot({ path: path.join(artifactDir, 'ui-phone.png'), fullPage: true });

    assert.deepEqual(failures, [], 'no external requests or console errors');
  } finally {
    await browser.close();
    proc.kill('SIGTERM');
  }
  const code = await new Promise((resolve) => proc.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, 'server exits 0 on SIGTERM');
  console.log('browser test passed; screenshots in ' + artifactDir);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
