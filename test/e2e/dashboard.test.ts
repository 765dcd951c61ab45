// End to end: the web dashboard in headless Chromium (Debian's `chromium` package driven by
// playwright-core) against a running manager with the generator: rates rise above zero on
// the page, stopping an NF from the page shows up in the API, and a screenshot is saved to
// test-output/ (ignored by git).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { apiRequest } from '../../src/control/client.js';
import { repoRoot } from '../helpers/cli.js';
import { startManager } from '../helpers/control.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (p): p is string => p !== undefined && fs.existsSync(p),
);

test(
  'e2e: dashboard in headless Chromium — live rates, stop an NF from the page, screenshot',
  { skip: CHROMIUM === undefined ? 'needs a Chromium binary: apt-get install chromium (or set CHROMIUM_PATH)' : false },
  async () => {
    const m = await startManager(
      'web',
      `ports:
  gen:  { driver: generator, flows: 128, size: 64, rate: 50000 }
  sink: { driver: sink }
services:
  mon: { nf: monitor }
  fwd: { nf: forward, instances: 2 }
chains:
  default: [mon, fwd, sink]
`,
    );
    // Root cannot use Chromium's sandbox; the page is our own, served on loopback.
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const pageErrors: string[] = [];
    try {
      // bypassCSP: the page's CSP forbids eval, which playwright's string predicates use.
      const page = await browser.newPage({ viewport: { width: 1400, height: 1400 }, bypassCSP: true });
      page.on('pageerror', (e) => pageErrors.push(e.message));
      page.on('console', (msg) => {
        if (msg.type() === 'error') pageErrors.push(msg.text());
      });
      const url = `${m.ep.info.dashboard}#token=${m.ep.token}`;
      await page.goto(url);
      // The token leaves the address bar once read.
      await page.waitForFunction("location.hash === ''");

      // Rates rise above zero: in the page's state, in the ports table and on the graph's edges.
      // (Page-side code is given as strings: this project's TypeScript has no DOM types.)
      await page.waitForFunction(
        'window.netvm.last !== null && window.netvm.last.ports.gen.rxPps > 0 && window.netvm.last.ports.sink.txPps > 0',
        undefined,
        {
          timeout: 30_000,
        },
      );
      await page.waitForFunction(
        '(() => { const c = document.querySelector(\'#ports tr[data-port="gen"] td.rx\'); return c !== null && parseFloat(c.textContent) > 0; })()',
      );
      const edgeRates = (await page.evaluate(
        "[...document.querySelectorAll('#topology .edge text')].map((e) => Number(e.getAttribute('data-rate')))",
      )) as number[];
      assert.ok(edgeRates.length >= 3, `edges: ${edgeRates.join(', ')}`);
      assert.ok(
        edgeRates.every((r) => r > 0),
        `every edge of the active chain carries packets: ${edgeRates.join(', ')}`,
      );
      assert.equal(await page.locator('#services tr[data-instance]').count(), 3);
      assert.match((await page.locator('#conn').textContent()) ?? '', /live/);

      // Stop fwd#2 from the page.
      await page.click('button[data-action="stop"][data-service="fwd"][data-instance="2"]');
      await page.waitForFunction("/stopped fwd#2/.test(document.querySelector('#action-result').textContent)", undefined, {
        timeout: 30_000,
      });
      const nfs = (await apiRequest<{ service: string; instance: number }[]>(m.ep, 'GET', '/api/v1/nfs')).body;
      assert.deepEqual(
        nfs.map((i) => `${i.service}#${i.instance}`),
        ['mon#1', 'fwd#1'],
      );
      const recent = (
        await apiRequest<{ type: string; service?: string; instance?: number; requested?: boolean }[]>(m.ep, 'GET', '/api/v1/events/recent')
      ).body;
      assert.ok(recent.some((e) => e.type === 'nf-exit' && e.service === 'fwd' && e.instance === 2 && e.requested === true));
      // The page hears about it on its event stream and redraws.
      await page.waitForSelector('#events li[data-event="nf-exit"]', { timeout: 15_000 });
      await page.waitForFunction("document.querySelectorAll('#services tr[data-instance]').length === 2");

      // And scale back up from the page.
      await page.click('button[data-action="scale-up"][data-service="fwd"]');
      await page.waitForFunction("/started fwd#2/.test(document.querySelector('#action-result').textContent)", undefined, {
        timeout: 30_000,
      });
      const after = (await apiRequest<{ service: string }[]>(m.ep, 'GET', '/api/v1/nfs')).body;
      assert.equal(after.filter((i) => i.service === 'fwd').length, 2);

      // A few more samples for the charts, then the picture.
      await page.waitForTimeout(2500);
      const out = path.join(repoRoot, 'test-output');
      fs.mkdirSync(out, { recursive: true });
      const shot = path.join(out, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(fs.statSync(shot).size > 10_000);
      console.log(`# dashboard screenshot: ${shot}`);
      assert.deepEqual(pageErrors, [], 'errors in the page');
    } finally {
      await browser.close();
      const { stats } = await m.stop();
      assert.equal(stats.pool.free, stats.pool.size);
    }
  },
);
