// Config values are plain strings in each store's key/value (so that `etcdctl put /fleet/config/color red`
// works). Known keys have a schema; any other key must be short printable text.
import { z } from 'zod';
import { colorSchema } from './schema.ts';

const plainText = z
  .string()
  .max(1024, 'printable text of at most 1024 characters')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'printable text of at most 1024 characters');

const KNOWN_KEYS: Readonly<Record<string, z.ZodType<string>>> = { color: colorSchema };

/** The keys the kit itself uses: every process keeps these in sync (and only the keys it watches). */
export const KIT_CONFIG_KEYS: readonly string[] = Object.keys(KNOWN_KEYS);

export type ParsedConfigValue = { ok: true; value: string } | { ok: false; expected: string };

/** The value if it is valid for this key, else what was expected. */
export function parseConfigValue(key: string, value: string): ParsedConfigValue {
  const result = (KNOWN_KEYS[key] ?? plainText).safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, expected: result.error.issues[0]?.message ?? 'a valid value' };
}
