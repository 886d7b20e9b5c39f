import { readFileSync } from 'node:fs';
import { ExecutionGrants, ExecutionGrantsError } from '../domain/execution-grants.js';

/** Reads and validates the execution-grant configuration JSON (at synth, and once per cold start). */
export function loadExecutionGrantsFile(path: string): ExecutionGrants {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ExecutionGrantsError(`cannot read the execution-grant configuration ${path} (${error instanceof Error ? error.message : String(error)}); set COUNTERSIGN_EXECUTION_GRANTS_FILE to its path`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ExecutionGrantsError(`the execution-grant configuration ${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return ExecutionGrants.parse(json, path);
}
