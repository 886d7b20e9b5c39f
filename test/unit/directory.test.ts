import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Directory } from '../../shared/domain/directory.js';

const directory = Directory.parse(JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8')));
const bob = directory.member('bob')!;

describe('Directory.isOnBehalfOf', () => {
  it.each([
    'bob', 'BOB', ' bob ', 'bob@example.com', 'Bob <bob@example.com>', 'mailto:bob@example.com',
    'bob@example.com\u200b', '\uff42\uff4f\uff42', '<@U0BOB>', '<@U0BOB|bob>', 'U0BOB', 'for bob, please',
  ])('recognizes %j as bob (no self-approval through spelling)', (onBehalfOf) => {
    expect(directory.isOnBehalfOf(bob, onBehalfOf)).toBe(true);
  });

  it.each(['alice@example.com', 'bobby', 'robert', 'bob2@example.com', null])('does not take %j for bob', (onBehalfOf) => {
    expect(directory.isOnBehalfOf(bob, onBehalfOf)).toBe(false);
  });
});
