// Every page carries the strict Content-Security-Policy <meta>, and the guard sees a violation (tests/e2e/csp.mjs;
// every other browser test fails on any violation too). Shared pieces: helpers.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { takeCspViolations } from './csp.mjs';
import { launch, site, useSite, watch } from './helpers.mjs';

useSite();

test('every page carries the strict Content-Security-Policy, and a violation is seen', { timeout: 120_000 }, async () => {
  const context = await launch({ webgpu: false });
  try {
    for (const file of ['index.html', 'dissect.html', 'compare.html', 'report.html']) {
      const page = await context.newPage();
      watch(page, `csp ${file}`);
      await page.goto(`${site.url}${file}`);
      await page.waitForLoadState('networkidle');
      const policy = await page.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content ?? null);
      assert.ok(policy, `${file} has no Content-Security-Policy <meta>`);
      for (const directive of ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self'", "style-src 'self'"]) {
        assert.ok(policy.includes(directive), `${file}: the policy lacks "${directive}": ${policy}`);
      }
      assert.doesNotMatch(policy, /'unsafe-eval'|'unsafe-inline'/, `${file}: ${policy}`);
      assert.deepEqual(takeCspViolations(), [], `${file} broke its policy while loading`);
      // The guard sees a violation: an inline script is refused and reported.
      await page.evaluate(() => {
        const s = document.createElement('script');
        s.textContent = 'window.inlineRan = true;';
        document.head.append(s);
      });
      await page.waitForTimeout(200);
      assert.equal(await page.evaluate(() => window.inlineRan ?? false), false, `${file}: an inline script ran`);
      const seen = takeCspViolations();
      assert.equal(seen.length, 1, `${file}: the inline script's violation was not reported: ${JSON.stringify(seen)}`);
      assert.match(seen[0].directive, /^script-src/);
      await page.close();
    }
  } finally {
    await context.close();
  }
});
