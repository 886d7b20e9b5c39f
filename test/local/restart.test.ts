import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/dynamodb-local.js';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { eventually } from './support.js';

/**
 * Ctrl-C while a request waits for review, then `npm start` again: in AWS the execution and the
 * Slack message would simply still be there. Locally the workflow runs again from its start and
 * the channel keeps its messages, so the review posted before the restart is answered after it.
 */

const DATA_OWNERS = 'C0DATAOWNERS';
const BOB = 'U0BOB';
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
const dataDir = mkdtempSync(join(tmpdir(), 'countersign-restart-'));
const log = memoryLogger();
const actionId = `restart-${Date.now().toString(36)}`;
let stack: LocalStack | undefined;

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function decisionOf(current: LocalStack): Promise<{ outcome: string; reviewers: Array<{ id: string }> }> {
  const response = await fetch(`${current.url}/actions/${actionId}`);
  return await response.json() as { outcome: string; reviewers: Array<{ id: string }> };
}

function reviewMessage(current: LocalStack) {
  return current.slack.workspace.messages(DATA_OWNERS).find((message) => JSON.stringify(message.blocks ?? []).includes(actionId));
}

describe('a restart while a request waits for review', () => {
  it('keeps the review message, runs the workflow again, and a tap after the restart decides the request', async () => {
    const port = await freePort();
    const dynamoDbPort = await freePort();
    const first = await startLocalStack({ port, dynamoDbPort, dataDir, log });
    stack = first;
    const events = new EventBridgeClient({ endpoint: first.url, region: 'us-east-1', credentials });
    await events.send(new PutEventsCommand({ Entries: [{
      EventBusName: 'countersign',
      Source: 'agent.billing-agent',
      DetailType: 'Action Requested',
      Detail: JSON.stringify({
        specVersion: '1', actionId, agent: { id: 'billing-agent', onBehalfOf: 'alice@example.com' }, action: 'db.export',
        resource: { type: 'Database', id: 'customers' }, environment: 'prod', parameters: { table: 'customers' }, justification: 'restart test',
      }),
    }] }));
    events.destroy();
    const posted = await eventually(() => reviewMessage(first), 'the review message');
    await first.stop();

    const second = await startLocalStack({ port, dynamoDbPort, dataDir, log });
    stack = second;
    expect(reviewMessage(second)?.ts).toBe(posted.ts);
    await eventually(() => log.lines.find((line) => /resumed\s+/.test(line) && line.includes(actionId)), 'the resumed line');
    expect((await decisionOf(second)).outcome).toBe('pending');

    // The resumed workflow's review phase holds the new token; a tap on the old message reaches it.
    const tap = await eventually(async () => {
      const response = await fetch(`${second.url}/slack/act`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: BOB, channel: DATA_OWNERS, ts: posted.ts, actionId: 'approve' }),
      });
      const body = await response.json() as { status: number; problem?: string };
      return body.status === 200 && body.problem === undefined ? body : undefined;
    }, 'a tap that counts');
    expect(tap.status).toBe(200);
    const decision = await eventually(async () => {
      const current = await decisionOf(second);
      return current.outcome === 'pending' ? undefined : current;
    }, 'the outcome');
    expect(decision.outcome).toBe('approved');
    expect(decision.reviewers.map((reviewer) => reviewer.id)).toEqual(['bob']);
  });
});
