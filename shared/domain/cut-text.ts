/**
 * `text` in at most `max` UTF-16 units, never splitting a surrogate pair: half of a pair is a lone
 * surrogate, which has no canonical JSON (an audit record could not hold it) and which the `Action
 * Executed` contract refuses. Uncut text is returned as it is.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}
