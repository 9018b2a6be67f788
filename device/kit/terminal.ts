// Text that came from elsewhere (a store's value, a web server's answer) shown in the attendee's
// terminal: control characters would move the cursor, recolor or retitle it, so they are shown escaped.

const isControl = (code: number, multiline: boolean) =>
  (code < 0x20 && !(multiline && (code === 0x09 || code === 0x0a))) || (code >= 0x7f && code <= 0x9f);

/** Control characters as \u escapes (tab and newline kept when `multiline`), cut to `max` characters. */
export function printable(text: string, { max = 2000, multiline = false } = {}): string {
  let shown = '';
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0;
    shown += isControl(code, multiline) ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return shown.length > max ? `${shown.slice(0, max)}… (${shown.length - max} more characters)` : shown;
}

/** One line to stdout (the kit's commands print for people, not JSON logs). */
export const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
