import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import manifest from '../../config/slack-app-manifest.json' with { type: 'json' };

// The bot scope each Web API method the product calls needs (views.open needs none: the trigger id authorizes it).
const SCOPE_OF_METHOD: Record<string, string | null> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'views.open': null,
};

describe('Slack app manifest', () => {
  it('asks for exactly the scopes the review channel uses', () => {
    const source = readFileSync(new URL('../../shared/adapters/slack/slack-review-channel.ts', import.meta.url), 'utf8');
    const methods = [...new Set([...source.matchAll(/this\.client\.(\w+)\.(\w+)\(/g)].map((m) => `${m[1]}.${m[2]}`))].sort();
    expect(methods).toEqual(Object.keys(SCOPE_OF_METHOD).sort());
    const needed = [...new Set(methods.map((m) => SCOPE_OF_METHOD[m]).filter((s): s is string => typeof s === 'string'))].sort();
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual(needed);
  });

  it('enables interactivity with a request URL to replace at deploy time', () => {
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.settings.interactivity.request_url).toMatch(/^https:\/\/REPLACE-WITH-/);
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.display_information.description.length).toBeLessThanOrEqual(140);
  });
});
