// The one home of POSIX shell quoting (flash's first-boot script, deploy's ssh commands, the commands
// the live page shows learners). Both work for any string; validation upstream is a second fence.

/** A POSIX shell word that is exactly `text`: single quotes, each ' written as '\''. */
export function shellQuote(text: string): string {
  if (text.includes('\0')) throw new Error('a shell word cannot hold a NUL character');
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The same word, left bare when it has only characters no shell treats specially (for command lines
 * a person reads: `ssh -o BatchMode=yes pi@10.0.0.5`, not `'ssh' '-o' ...`).
 */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : shellQuote(text);
}
