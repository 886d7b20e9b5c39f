import { describe, expect, it } from 'vitest';
import { jsonForReview } from '../../shared/review/json-for-review.js';
import { labelHidden, TAB_AND_NEWLINE } from '../../shared/domain/code-point-label.js';

const MAX = 3000;

describe('parameters as a reviewer reads them', () => {
  it('are the indented JSON, whole, when they fit', () => {
    const parameters = { table: 'customers', format: 'csv', where: { region: 'eu' } };
    expect(jsonForReview(parameters, MAX)).toBe(JSON.stringify(parameters, null, 2));
  });

  it('list every value by its path when they do not fit: a long value cannot push the key that matters out of view', () => {
    // What a red-team helper sent through the MCP gateway: 3 KB of harmless content, then the path (keys sorted).
    const parameters = { content: 'x'.repeat(3000), path: '/srv/.ssh/authorized_keys' };
    const text = jsonForReview(parameters, MAX);
    expect(text.length).toBeLessThanOrEqual(MAX);
    expect(text.split('\n')[0]).toMatch(/^Too long to show whole \(\d+ bytes as JSON\): .* An approval is for all of it\.$/);
    expect(text).toContain('\npath: "/srv/.ssh/authorized_keys"');
    expect(text).toMatch(/\ncontent: "x+ … \[cut: 3002 characters\]/);
  });

  it('reach nested values and odd keys, and say how many values they could not list when there are too many', () => {
    const nested = jsonForReview({ a: { b: 'y'.repeat(4000), c: 'evil', list: [1, 'two'] }, 'we.ird key': true, empty: {} }, MAX);
    expect(nested).toContain('\na.c: "evil"');
    expect(nested).toContain('\na.list[0]: 1\na.list[1]: "two"');
    expect(nested).toContain('\n["we.ird key"]: true');
    expect(nested).toContain('\nempty: {}');
    const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`key${String(i).padStart(3, '0')}`, 'v'.repeat(100)]));
    const text = jsonForReview(many, MAX);
    expect(text.length).toBeLessThanOrEqual(MAX);
    const listed = text.split('\n').filter((line) => line.startsWith('key')).length;
    expect(listed).toBeGreaterThan(0);
    expect(text).toMatch(new RegExp(`\\n… and ${400 - listed} more values not listed: this request cannot be reviewed in full here$`));
  });

  it('measure text as the place shows it, so labels of hidden characters cannot push anything out', () => {
    const parameters = { content: '\u202E'.repeat(2000), path: '/srv/.ssh/authorized_keys' };
    const text = jsonForReview(parameters, MAX, (t) => labelHidden(t, TAB_AND_NEWLINE));
    expect(text.length).toBeLessThanOrEqual(MAX);
    expect(text).toContain('\npath: "/srv/.ssh/authorized_keys"');
    expect(text).not.toContain('\u202E');
    expect(text).toContain('[U+202E]');
  });
});
