import { describe, expect, it } from 'vitest';
import manifest from '../../config/teams-app-manifest.json' with { type: 'json' };

describe('Teams app manifest', () => {
  it('installs one bot in teams (channels), whose id is the bot app id to replace at deploy time', () => {
    expect(manifest.bots).toHaveLength(1);
    expect(manifest.bots[0]?.scopes).toEqual(['team']);
    expect(manifest.bots[0]?.botId).toBe(manifest.id);
    expect(manifest.id).toMatch(/^REPLACE-WITH-/);
    // A notification-only bot receives no invokes: the cards' Action.Execute would go nowhere.
    expect(manifest.bots[0]?.isNotificationOnly).toBe(false);
  });

  it('fits the schema limits that Teams checks at upload', () => {
    expect(manifest.manifestVersion).toBe('1.17');
    expect(manifest.name.short.length).toBeLessThanOrEqual(30);
    expect(manifest.description.short.length).toBeLessThanOrEqual(80);
    expect(manifest.description.full.length).toBeLessThanOrEqual(4000);
  });
});
