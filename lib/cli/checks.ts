// Checks that settings of several commands share: a whole number in a range, and what is wrong with a
// file the user named, in words.
import { z } from 'zod';
import { errorMessage } from '../registry/index.ts';

/** A whole number from min to max; `what` says what it counts ("whole seconds", "a number of devices"). */
export const wholeNumber = (min: number, max: number, what = 'a whole number') => {
  const expected = `${what} from ${min} to ${max}`;
  return z.number({ error: expected }).int(expected).min(min, expected).max(max, expected);
};

/** A raw setting as a number for such a schema: undefined when not given (or blank). */
export const numberSetting = (text: unknown) =>
  typeof text === 'string' && text.trim() !== '' ? Number(text) : undefined;

/** Why a file or folder the user named cannot be used, from the error of stat, access or read. */
export function fileProblem(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'a folder, not a file';
    case 'ENOTDIR':
      return 'not a folder';
    default:
      return errorMessage(error);
  }
}
