import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { eventually } from '../local/support.js';
import { HAS_CHROMIUM, launchChromium, MISSING_CHROMIUM, saveScreenshot, VIEWPORT } from './support.js';

/**
 * The /teams page in Chromium against a running local stack: the card drawn by Microsoft's Adaptive
 * Cards renderer, a reviewer picked in the act-as panel, Approve tapped in the page, and the request
 * approved through the real teams-interactions handler (the emulator signs the invoke; the handler
 * verifies it).
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const CAROL_AAD = '00000000-0000-4000-8000-00000000ca01';

describe.skipIf(!HAS_CHROMIUM)(`the Teams page in Chromium${HAS_CHROMIUM ? '' : ` (skipped: ${MISSING_CHROMIUM})`}`, () => {
  let dataDir: string;
  let stack: LocalStack;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'countersign-teams-page-'));
    stack = await startLocalStack({ port: 0, dataDir, log: memoryLogger(), timeScale: 1 });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: VIEWPORT });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('carol approves in /teams: the card she sees confirms it, and the request is approved', { timeout: 120_000 }, async () => {
    const actionId = `teams-page-${Date.now().toString(36)}`;
    const events = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    await events.send(new PutEventsCommand({ Entries: [{
      EventBusName: 'countersign',
      Source: 'agent.billing-agent',
      DetailType: 'Action Requested',
      Detail: JSON.stringify({
        specVersion: '1', actionId,
        agent: { id: 'billing-agent', onBehalfOf: 'erin@example.com', runId: 'run-1', model: 'test-model' },
        action: 'iam.policy.update', resource: { type: 'IamPolicy', id: 'billing-readers' }, environment: 'staging',
        parameters: { policy: 'billing-readers' }, justification: 'Add the new analyst **now** [here](https://evil.example)',
      }),
    }] }));
    events.destroy();
    await eventually(() => stack.teams.allThreads().find((t) => JSON.stringify(t.root).includes(actionId)), 'the Teams card');

    await page.goto(`${stack.url}/teams`);
    await page.locator('#act-as').selectOption(CAROL_AAD);
    const card = page.locator('article.thread', { hasText: actionId });
    await card.waitFor();
    // Drawn by the adaptivecards renderer (its ac-* classes), with the agent's text literal.
    await expect(card.locator('.ac-adaptiveCard').count()).resolves.toBeGreaterThan(0);
    await expect(card.textContent()).resolves.toContain('**now** [here](https://evil.example)');
    // Deny shows the required reason.
    await card.getByRole('button', { name: 'Deny' }).first().click();
    await card.locator('textarea, input[type="text"]').first().waitFor();
    await saveScreenshot(page, '05-teams-review');

    // The bot's answer to the tap is carol's own card, with the confirmation on top (until the bot's
    // update of the message, which everyone sees, replaces it).
    const answered = page.waitForResponse((response) => response.url().endsWith('/teams/act'));
    await card.getByRole('button', { name: 'Approve' }).click();
    const answer = await (await answered).json() as { status: number; card?: unknown };
    expect(answer.status).toBe(200);
    expect(JSON.stringify(answer.card)).toContain('Your approval counted (1 of 1)');
    const decision = await eventually(async () => {
      const body = await (await fetch(`${stack.url}/actions/${actionId}`)).json() as { outcome: string; reviewers: Array<{ id: string }> };
      return body.outcome === 'approved' ? body : undefined;
    }, 'the request to be approved', 20_000);
    expect(decision.reviewers.map((r) => r.id)).toEqual(['carol']);
    await page.locator('article.thread', { hasText: 'Approved' }).filter({ hasText: actionId }).waitFor({ timeout: 20_000 });
    await saveScreenshot(page, '06-teams-approved');
  });
});
