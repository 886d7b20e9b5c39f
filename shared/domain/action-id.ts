/** What an actionId may be: the idempotency key agents choose (a file of its own, so readers of ids need no parser). */
export const ACTION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
