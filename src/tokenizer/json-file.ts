// Tokenizer and model configuration files are JSON objects that users supply; reading one fails
// with a UserError that names the file.
import { readFile } from 'node:fs/promises';
import { UserError } from '../core/errors.js';

/** Reads a JSON file that must hold an object; a missing or malformed file is the user's to fix. */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UserError(`${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}
