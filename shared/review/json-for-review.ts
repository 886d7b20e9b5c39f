import { utf8Bytes } from '../domain/canonical-json.js';
import { cutText } from '../domain/cut-text.js';

/**
 * A request's parameters (or its resource's attributes) as a reviewer reads them in Slack or Teams,
 * within `max` characters.
 *
 * Whole (indented JSON) when they fit. When they do not, one line per value, `path: value`, with every
 * path listed and the long values cut, each cut marked with the value's full size, under a line that says
 * so. Cutting the JSON at the end instead would let an agent push the key that matters out of view behind
 * a long harmless one (3 KB of `content` before `path: "/root/.ssh/authorized_keys"`), and the approval
 * binds the whole payload. Only when there are too many values for even their paths does the view end
 * with how many it could not list. `show` is what the place does to text that others wrote (labels its
 * hidden characters), applied before measuring so that labels cannot push anything out either.
 */
export function jsonForReview(value: unknown, max: number, show: (text: string) => string = (text) => text): string {
  const json = JSON.stringify(value, null, 2) ?? 'null';
  const whole = show(json);
  if (whole.length <= max) return whole;
  const leaves: Leaf[] = [];
  collectLeaves(value, '', leaves);
  for (const leaf of leaves) {
    leaf.path = show(leaf.path);
    leaf.value = show(leaf.value);
  }
  const header = `Too long to show whole (${utf8Bytes(json)} bytes as JSON): each value on its own line by its path, long values cut and marked. An approval is for all of it.`;
  const budget = max - header.length - CLOSING_LINE_ROOM;
  const lines = leaves.map((leaf) => {
    const text = `${leaf.path}: ${leaf.value}`;
    const marker = ` … [cut: ${leaf.value.length} characters]`;
    // The least a line can show: its path and the start of its value, marked as cut.
    const least = Math.min(text.length, leaf.path.length + 2 + MIN_VALUE_SHOWN + marker.length);
    return { leaf, text, marker, least };
  });
  const shareOf = fairShares(lines.map((line) => line.text.length + 1), budget);
  const everyPathFits = lines.every((line, index) => (shareOf[index] ?? 0) - 1 >= line.least);
  const shown: string[] = [header];
  let unlisted = 0;
  let left = budget;
  lines.forEach((line, index) => {
    // Too many values for fair shares: each gets the least it can show, in order, while there is room.
    const share = everyPathFits ? (shareOf[index] ?? 0) - 1 : line.least;
    if (!everyPathFits && share + 1 > left) {
      unlisted++;
      return;
    }
    left -= share + 1;
    if (line.text.length <= share) shown.push(line.text);
    else shown.push(`${line.leaf.path}: ${cutText(line.leaf.value, share - line.leaf.path.length - 2 - line.marker.length)}${line.marker}`);
  });
  if (unlisted > 0) shown.push(`… and ${unlisted} more value${unlisted === 1 ? '' : 's'} not listed: this request cannot be reviewed in full here`);
  const text = shown.join('\n');
  // A safety net: the room kept for the closing line covers it.
  return text.length <= max ? text : cutText(text, max);
}

/** The characters of a value a cut line shows at least, and the room kept for the "not listed" line. */
const MIN_VALUE_SHOWN = 8;
const CLOSING_LINE_ROOM = 100;

/** Water-filling: the shortest lengths whole while they fit their fair share of `budget`, the rest a fair share each. */
function fairShares(lengths: readonly number[], budget: number): number[] {
  const order = lengths.map((length, index) => ({ length, index })).sort((a, b) => a.length - b.length);
  const shares: number[] = [];
  let left = budget;
  order.forEach(({ length, index }, i) => {
    const given = Math.min(length, Math.floor(left / (order.length - i)));
    shares[index] = given;
    left -= given;
  });
  return shares;
}

interface Leaf {
  path: string;
  /** The value as JSON (a string in quotes), as shown. */
  value: string;
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

function collectLeaves(value: unknown, path: string, into: Leaf[]): void {
  if (Array.isArray(value) && value.length > 0) {
    value.forEach((item, index) => collectLeaves(item, `${path}[${index}]`, into));
    return;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const step = PLAIN_KEY.test(key) ? (path === '' ? key : `${path}.${key}`) : `${path}[${JSON.stringify(key)}]`;
      collectLeaves(item, step, into);
    }
    return;
  }
  into.push({ path: path === '' ? '(value)' : path, value: JSON.stringify(value) ?? 'null' });
}
