/**
 * A worker thread of `verify` (verify-workers.ts): checks the objects it is sent with checkObject and
 * posts each result back. Holds nothing between objects.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkObject, type ObjectCheckOptions } from './verify-object.js';
import type { ObjectTask, WorkerReply } from './verify-workers.js';

const options = workerData as ObjectCheckOptions;
const port = parentPort!;
port.on('message', (task: ObjectTask) => {
  let reply: WorkerReply;
  try {
    reply = { id: task.id, check: checkObject(task.key, task.body, task.entry, task.digestKey, options) };
  } catch (error) {
    reply = { id: task.id, error: (error as Error).stack ?? String(error) };
  }
  port.postMessage(reply);
});
