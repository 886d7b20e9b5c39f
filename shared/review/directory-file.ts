import { readFileSync } from 'node:fs';
import { Directory, DirectoryError } from '../domain/directory.js';

/** Reads and validates the approver directory JSON (once per cold start). */
export function loadDirectoryFile(path: string): Directory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new DirectoryError(`cannot read the approver directory ${path} (${error instanceof Error ? error.message : String(error)}); set COUNTERSIGN_DIRECTORY_FILE to its path`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DirectoryError(`the approver directory ${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return Directory.parse(json, path);
}
