import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { eventually } from '../local/support.js';
import { HAS_CHROMIUM, IN_CI, launchChromium, MISSING_CHROMIUM, RunningProcess, saveScreenshot, VIEWPORT } from './support.js';

/**
 * The README tutorial ("Try it locally", "Approve it in Slack (locally)") in a real browser: the
 * local stack with the real handlers, `npm run demo`'s export request, the Slack page in Debian's
 * Chromium (alice is refused, bob approves), the audit page listing the action's records, and
 * `npm run audit -- verify` on the log once the stack has stopped and signed its digest.
 * Screenshots of each step go to test-results/screenshots/ (and docs/screenshots/ with
 * UPDATE_SCREENSHOTS=1).
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const WAIT_MS = 20_000;

interface Decision {
  actionId: string;
  outcome: string;
  reviewers: { id: string; vote: string }[];
}

if (!HAS_CHROMIUM && IN_CI) {
  describe('the README tutorial in Chromium', () => {
    it('needs Chromium on CI', () => {
      throw new Error(`${MISSING_CHROMIUM}; on CI the browser test must run, not be skipped`);
    });
  });
}

describe.skipIf(!HAS_CHROMIUM)(`the README tutorial in Chromium${HAS_CHROMIUM ? '' : ` (skipped: ${MISSING_CHROMIUM})`}`, () => {
  let dataDir: string;
  let stack: LocalStack;
  let stopped = false;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let demo: RunningProcess;
  let actionId = '';

  async function decision(): Promise<Decision> {
    const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}`);
    expect(response.status).toBe(200);
    return await response.json() as Decision;
  }

  /** Scrolls the channel so that a message starts at the top, as a reader would look at it. */
  async function showTop(message: Locator): Promise<void> {
    await page.mouse.move(0, VIEWPORT.height - 1);
    await message.evaluate((node) => node.scrollIntoView({ block: 'start' }));
  }

  const review = (): Locator => page.locator(`#messages .message[data-action-id="${actionId}"]`);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'countersign-e2e-'));
    [stack, browser] = await Promise.all([startLocalStack({ port: 0, dataDir, log: memoryLogger() }), launchChromium()]);
    context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'UTC' });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
  });

  afterAll(async () => {
    demo?.stop();
    await context?.close();
    await browser?.close();
    if (!stopped) await stack?.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  it('1-2. the demo sends the export request, which waits for a data owner', async () => {
    // The README's command, pointed at this test's stack.
    demo = new RunningProcess('npm', ['run', '--silent', 'demo', '--', '--endpoint', stack.url, '--only', 'export']);
    await demo.waitForLine((line) => /export/i.test(line) && /pending|waiting/i.test(line), 'a line saying the export is pending', WAIT_MS);
  });

  it('3. the Slack page shows the review in #approvals-data-owners', async () => {
    await page.goto(`${stack.url}/slack`);
    await page.locator('#channels button[data-channel="approvals-data-owners"]').click();
    const message = page.locator('#messages .message[data-action-id]').filter({ hasText: 'db.export' }).first();
    await message.waitFor();
    actionId = await message.getAttribute('data-action-id') ?? '';
    expect(actionId).not.toBe('');
    expect((await decision()).outcome).toBe('pending');
    const text = await review().innerText();
    for (const shown of ['Approval needed: db.export in prod', 'billing-agent', 'Database customers', 'Quarterly churn analysis for finance', 'Approve', 'Deny']) expect(text).toContain(shown);
    await showTop(review());
    await saveScreenshot(page, '01-slack-review');
  });

  it('4. alice, who owns billing-agent, is refused with a notice only she sees; the request stays pending', async () => {
    await page.locator('#acting').selectOption('U0ALICE');
    await page.locator('#acting-info').filter({ hasText: 'Owns billing-agent' }).waitFor();
    await review().getByRole('button', { name: 'Approve', exact: true }).click();
    const notice = page.locator('#messages .ephemeral').first();
    await notice.waitFor();
    expect(await notice.innerText()).toContain('Only visible to you');
    await page.mouse.move(0, VIEWPORT.height - 1);
    await notice.scrollIntoViewIfNeeded();
    await saveScreenshot(page, '02-slack-refusal');
    expect((await decision()).outcome).toBe('pending');
    expect(demo.output).not.toMatch(/approved/i);
  });

  it('5. bob approves: the message updates, the decision is approved and the demo finishes', async () => {
    await page.locator('#acting').selectOption('U0BOB');
    await page.locator('#acting-info').filter({ hasText: '@bob' }).waitFor();
    expect(await page.locator('#messages .ephemeral').count()).toBe(0);
    await review().getByRole('button', { name: 'Approve', exact: true }).click();
    await review().locator('.header').filter({ hasText: /^Approved: db\.export in prod$/ }).waitFor();
    const text = await review().innerText();
    expect(text).toContain('Approved by @bob');
    expect(text).toContain('(edited)');
    expect(await review().getByRole('button', { name: 'Approve', exact: true }).count()).toBe(0);
    await showTop(review());
    await saveScreenshot(page, '03-slack-approved');
    const decided = await eventually(async () => {
      const body = await decision();
      return body.outcome === 'approved' ? body : undefined;
    }, `${actionId} to be approved`, WAIT_MS);
    expect(decided.reviewers.map((vote) => vote.id)).toEqual(['bob']);
    await demo.waitForLine((line) => /export/i.test(line) && /approved/i.test(line), 'a line saying the export is approved', WAIT_MS);
    const exit = await demo.waitForExit(WAIT_MS);
    expect(exit.code, demo.transcript()).toBe(0);
  });

  it('6. the audit page lists the action\'s records: the request, alice\'s refused vote, bob\'s vote, the outcome', async () => {
    // The stream poller writes audit records shortly after each change, and the page refreshes by
    // itself: open it once and wait for the outcome's row to appear.
    await page.goto(`${stack.url}/audit`);
    await page.locator(`#records [data-action-id="${actionId}"][data-event-type="outcome"]`).waitFor({ timeout: WAIT_MS });
    const types = await page.locator(`#records [data-action-id="${actionId}"]`).evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-event-type') ?? ''));
    expect(types).toEqual(expect.arrayContaining(['requested', 'vote_refused', 'vote', 'outcome']));
    await saveScreenshot(page, '04-audit');
  });

  it('7. once the stack stops, npm run audit -- verify proves the log whole', async () => {
    const auditDir = stack.auditDir;
    expect(auditDir).toBeDefined();
    stopped = true;
    await stack.stop();
    const verify = new RunningProcess('npm', ['run', '--silent', 'audit', '--', 'verify', '--dir', auditDir ?? '']);
    const exit = await verify.waitForExit(WAIT_MS);
    expect(exit.code, verify.transcript()).toBe(0);
    expect(exit.output).toMatch(/^audit log verified: \d+ digests?, \d+ objects?, \d+ records?, no problems$/m);
  });
});
