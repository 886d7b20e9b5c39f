import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { eventually } from '../local/support.js';
import { HAS_CHROMIUM, IN_CI, launchChromium, MISSING_CHROMIUM, VIEWPORT } from './support.js';

/**
 * The kill switch in Chromium (issue 16): on the local stack's Slack page, carol (security) taps "Block this
 * agent" on a review, gives the reason in the modal, and the agent is quarantined: its review is closed as
 * rejected (the message loses its buttons) and its next request is denied.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const WAIT_MS = 20_000;
const run = `e2eq${Date.now().toString(36)}`;

if (IN_CI && !HAS_CHROMIUM) throw new Error(MISSING_CHROMIUM);

describe.skipIf(!HAS_CHROMIUM)(`quarantine from the Slack page${HAS_CHROMIUM ? '' : ` (skipped: ${MISSING_CHROMIUM})`}`, () => {
  let dataDir: string;
  let stack: LocalStack;
  let browser: Browser;
  let page: Page;
  let events: EventBridgeClient;

  async function send(actionId: string, action: Record<string, unknown>): Promise<void> {
    const detail = { specVersion: '1', actionId, agent: { id: 'billing-agent', onBehalfOf: 'erin@example.com' }, ...action, parameters: { run }, justification: 'rotate readers' };
    const response = await events.send(new PutEventsCommand({ Entries: [{ EventBusName: 'countersign', Source: 'agent.billing-agent', DetailType: 'Action Requested', Detail: JSON.stringify(detail) }] }));
    expect(response.FailedEntryCount).toBe(0);
  }

  const decided = (actionId: string, outcome: string) => eventually(async () => {
    const response = await fetch(`${stack.url}/actions/${actionId}`);
    const body = response.status === 200 ? await response.json() as { outcome: string; reason: string } : undefined;
    return body?.outcome === outcome ? body : undefined;
  }, `${actionId} to be ${outcome}`, WAIT_MS);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'countersign-e2e-quarantine-'));
    [stack, browser] = await Promise.all([startLocalStack({ port: 0, dataDir, log: memoryLogger(), timeScale: 60 }), launchChromium()]);
    events = new EventBridgeClient({ endpoint: stack.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    page = await (await browser.newContext({ viewport: VIEWPORT, locale: 'en-US', timezoneId: 'UTC' })).newPage();
    page.setDefaultTimeout(WAIT_MS);
  }, 120_000);

  afterAll(async () => {
    events?.destroy();
    await browser?.close();
    await stack?.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  it('carol blocks billing-agent from its review message; the review closes and the agent\'s next request is denied', async () => {
    const actionId = `${run}-iam`;
    await send(actionId, { action: 'iam.policy.update', resource: { type: 'IamPolicy', id: 'billing-readers' }, environment: 'prod' });
    await page.goto(`${stack.url}/slack`);
    await page.locator('#acting').selectOption('U0CAROL');
    await page.locator('#channels button[data-channel="approvals-security"]').click();
    const review = page.locator(`#messages .message[data-action-id="${actionId}"]`);
    await review.getByRole('button', { name: 'Block this agent', exact: true }).click();

    const modal = page.locator('#modal');
    await modal.getByText('Quarantine agent billing-agent?').waitFor();
    await modal.locator('textarea').fill('looping on policy updates');
    await modal.getByRole('button', { name: 'Quarantine', exact: true }).click();

    expect((await decided(actionId, 'rejected')).reason).toContain('agent quarantined by carol: looping on policy updates');
    await eventually(async () => ((await review.getByRole('button', { name: 'Approve', exact: true }).count()) === 0 ? true : undefined), 'the review message without buttons', WAIT_MS);
    await page.locator('#messages .message').filter({ hasText: 'Countersign: agent billing-agent was quarantined by carol' }).first().waitFor();

    await send(`${run}-query`, { action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod' });
    expect((await decided(`${run}-query`, 'denied')).reason).toMatch(/^agent quarantined by carol/);
  }, 90_000);
});
