import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackPageHtml } from '../../local/slack/page.js';
import { HAS_CHROMIUM, MISSING_CHROMIUM, openServedPage } from './support.js';

/**
 * The workspace page's layout in Chromium, with a channel state served to it directly (no local
 * stack): what a reader sees once the page has laid itself out.
 */


/** A day of review-like messages, more than the channel shows at once, so that it scrolls. */
function state(): unknown {
  const day = Math.floor(Date.UTC(2020, 0, 1, 9) / 1000);
  const messages = Array.from({ length: 30 }, (_, i) => ({
    type: 'message', bot_id: 'B0COUNTERSIGN', user: 'U0COUNTERSIGNBOT', ts: `${day + i * 60}.000100`, text: `review ${i}`,
    blocks: [
      { type: 'section', text: { type: 'plain_text', text: `Message ${i}: a line of text a reviewer reads` } },
      { type: 'rich_text', elements: [{ type: 'rich_text_preformatted', elements: [{ type: 'text', text: `{\n  "row": ${i}\n}` }] }] },
    ],
  }));
  return {
    team: { id: 'T0LOCAL', name: 'Countersign (local Slack)' },
    timeScale: 1,
    users: [{ id: 'U0BOB', name: 'bob', realName: 'Bob', groups: ['data-owners'], owns: [] }],
    channels: [{ id: 'C0DATAOWNERS', name: 'approvals-data-owners', group: 'data-owners', purpose: 'Countersign approvals', members: ['U0BOB'], messages }],
    ephemerals: [],
    modal: null,
  };
}

describe.skipIf(!HAS_CHROMIUM)(`the workspace page's layout in Chromium${HAS_CHROMIUM ? '' : ` (skipped: ${MISSING_CHROMIUM})`}`, () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    ({ browser, page } = await openServedPage('/slack', {
      '/slack': { contentType: 'text/html', body: () => slackPageHtml({ nonce: 'n0', teamName: 'Countersign (local Slack)' }) },
      '/slack/state': { contentType: 'application/json', body: () => JSON.stringify(state()) },
    }));
    await page.locator('#messages .message').nth(29).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
  });

  /** The messages the day's date pill lies over, with the channel scrolled to `scrollTop`. */
  async function pillOverMessages(scrollTop: number): Promise<string[]> {
    await page.locator('#messages').evaluate((node, top) => { node.scrollTop = top; }, scrollTop);
    const pill = await page.locator('#messages .day span').first().boundingBox();
    if (pill === null) throw new Error('no date pill on the page');
    const bodies = await page.locator('#messages .message .body').evaluateAll((nodes) => nodes.map((node) => {
      const r = node.getBoundingClientRect();
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: (node.textContent ?? '').slice(0, 40) };
    }));
    return bodies
      .filter((r) => r.left < pill.x + pill.width && pill.x < r.right && r.top < pill.y + pill.height && pill.y < r.bottom)
      .map((r) => r.text);
  }

  it('keeps the date pill off the messages, at the top of the channel and scrolled down', async () => {
    expect(await pillOverMessages(0)).toEqual([]);
    expect(await pillOverMessages(600)).toEqual([]);
  });

  it('shows the parameters in a monospaced block', async () => {
    const font = await page.evaluate('getComputedStyle(document.querySelector("#messages pre.preformatted")).fontFamily');
    expect(font).toMatch(/monospace/);
    expect(await page.locator('#messages pre.preformatted').first().innerText()).toBe('{\n  "row": 0\n}');
  });
});
