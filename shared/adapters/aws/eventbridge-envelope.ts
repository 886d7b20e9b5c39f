import * as z from 'zod';

/**
 * The EventBridge envelope a rule hands to a Lambda target, field for field the Powertools parser's
 * `EventBridgeSchema`. Declared here because that module imports zod as `{ z }`, which keeps all of zod
 * (its locales and JSON-schema code, about 360 KB) in the bundle; a namespace import lets esbuild drop them.
 */
export const EventBridgeEnvelopeSchema = z.object({
  version: z.string(),
  id: z.string(),
  source: z.string(),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
  'detail-type': z.string(),
  detail: z.unknown(),
  'replay-name': z.string().optional(),
});
