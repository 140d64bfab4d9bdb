// The site's Content-Security-Policy (the <meta> in every www/*.html) in the browser tests: every page of a
// guarded browser context reports each `securitypolicyviolation` event to the test process, and a test
// during which one happened fails (each test file calls `afterEach(assertNoCspViolations)`).
import assert from 'node:assert/strict';

const violations = [];

/** Reports the violations of every page `context` opens from now on (call it before the first page). */
export async function guardCsp(context) {
  await context.exposeBinding('__glassboxCspViolation', (_source, violation) => { violations.push(violation); });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__glassboxCspViolation({ page: location.href, directive: e.violatedDirective, blocked: e.blockedURI,
        source: `${e.sourceFile}:${e.lineNumber}`, sample: e.sample });
    });
  });
}

/** The violations seen since the last call, emptied. */
export function takeCspViolations() {
  return violations.splice(0);
}

/** Fails when a page broke the policy since the last call. */
export function assertNoCspViolations() {
  const seen = takeCspViolations();
  assert.deepEqual(seen, [], `the site broke its Content-Security-Policy:\n${seen.map((v) => JSON.stringify(v)).join('\n')}`);
}
