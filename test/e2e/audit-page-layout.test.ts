import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditPageRecord, AuditRecordsView } from '../../local/audit-api.js';
import { auditPageHtml } from '../../local/audit-page.js';
import { HAS_CHROMIUM, MISSING_CHROMIUM, openServedPage } from './support.js';

/**
 * The audit page's layout in Chromium, with records served to it directly (no local stack): what a
 * reader sees once the table has laid itself out beside long reasons.
 */

const AGENTS = ['customer-billing-reconciliation-agent', 'ops-agent', 'data-platform-migration-agent'];

function record(i: number): AuditPageRecord {
  return {
    eventId: `a-${i}/decided`, eventType: 'decided', occurredAt: `2026-11-20T10:${String(i).padStart(2, '0')}:00.000Z`, actionId: `a-${i}`,
    agentId: AGENTS[i % AGENTS.length] ?? null, onBehalfOf: null, action: 'iam.policy.update', resourceType: 'IamPolicy', resourceId: 'arn:aws:iam::123456789012:policy/billing-readers',
    environment: 'prod', outcome: 'denied', requestOutcome: 'denied', reason: 'forbidden by policy no-iam-changes-outside-the-change-window: '.repeat(3), reviewerId: null,
    vote: null, comment: null, policyIds: ['no-iam-changes-outside-the-change-window'], requestPolicyIds: [], payloadSha256: 'ab'.repeat(32), hash: 'cd'.repeat(32),
    objectKey: 'audit/dt=2026-11-20/hour=10/shard=s/1.ndjson.gz', claimedSource: null, justification: null, parameters: null,
    validUntil: null, execution: null, violationRule: null,
  };
}

/** A resource id that, shown raw, would read as `report.pdf…` reversed: an agent's spoof. */
const SPOOF = 'report\u202Efdp.exe';

const VIEW: AuditRecordsView = {
  records: Array.from({ length: 9 }, (_, i) => (i === 1 ? { ...record(i), resourceId: SPOOF } : record(i))),
  total: 9, agents: AGENTS, outcomes: ['denied'], perHour: [], latencies: [], log: { records: 9, objects: 1 }, generatedAt: '2026-11-20T12:00:00.000Z',
};

describe.skipIf(!HAS_CHROMIUM)(`the audit page's layout in Chromium${HAS_CHROMIUM ? '' : ` (skipped: ${MISSING_CHROMIUM})`}`, () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const html = await auditPageHtml({ nonce: 'n0' });
    ({ browser, page } = await openServedPage('/audit', {
      '/audit': { contentType: 'text/html', body: () => html },
      '/audit/records': { contentType: 'application/json', body: () => JSON.stringify(VIEW) },
    }));
    await page.locator('#records tbody tr.record').nth(8).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('shows each agent id on one line', async () => {
    // One client rect per line box of the cell's text.
    const lines = await page.evaluate(`[...document.querySelectorAll('#records tbody tr.record td:nth-child(3)')].map((td) => {
      const range = document.createRange();
      range.selectNodeContents(td);
      return [td.textContent, range.getClientRects().length];
    })`);
    expect(lines).toEqual(VIEW.records.map((r) => [r.agentId, 1]));
  });

  it('shows a bidi override in a resource id as [U+202E], so the cell cannot read reversed', async () => {
    const text = await page.locator('#records tbody tr.record').nth(1).locator('td').nth(4).innerText();
    expect(text).toBe('IamPolicy/report[U+202E]fdp.exe');
  });
});
