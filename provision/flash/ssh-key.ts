// The SSH public key file given with --ssh-key: every line checked to be an OpenSSH public key (its
// base64 blob decoded and its type matched), so that a private key or a stray file never lands on a card.

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);
export const MAX_KEY_FILE_BYTES = 64 * 1024;
const KEY_LINE = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: ([^\r\n]*))?$/;
// Comments are free text, but they are copied into a shell script and YAML: printable only.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point of this pattern
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

export const SSH_KEY_EXPECTED =
  'an SSH public key file (one or more lines "ssh-ed25519 AAAA... comment", e.g. ~/.ssh/id_ed25519.pub)';

/** The key lines of the file's text, or the reason it is not a public key file. */
export function parsePublicKeys(text: string): { keys: string[] } | { problem: string } {
  if (Buffer.byteLength(text) > MAX_KEY_FILE_BYTES)
    return { problem: `at most ${MAX_KEY_FILE_BYTES / 1024} KB` };
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    return { problem: 'a PUBLIC key (the .pub file): this is a private key, keep it off the card' };
  }
  const keys: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const problem = checkKeyLine(line);
    if (problem) return { problem: `line ${index + 1}: ${problem}` };
    keys.push(line.replace(/\s+/g, ' '));
  }
  if (keys.length === 0) return { problem: 'at least one key: the file has none' };
  return { keys };
}

function checkKeyLine(line: string): string | undefined {
  const match = KEY_LINE.exec(line.replace(/[ \t]+/g, ' '));
  if (!match) return '"type base64 [comment]" (authorized_keys options are not supported)';
  const [, type, base64, comment] = match as unknown as [string, string, string, string | undefined];
  if (type === 'ssh-dss')
    return 'a key type OpenSSH still accepts (ssh-ed25519, ssh-rsa, ecdsa): not ssh-dss';
  if (!KEY_TYPES.has(type))
    return `a known key type (${[...KEY_TYPES].join(', ')}), not "${type.slice(0, 40)}"`;
  // The blob starts with its own type as an SSH string: a length (uint32, big-endian), then the name.
  const blob = Buffer.from(base64, 'base64');
  const nameLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (nameLength !== type.length || blob.toString('latin1', 4, 4 + nameLength) !== type) {
    return `a ${type} key whose base64 part is a ${type} key (it is not)`;
  }
  if (blob.length < 4 + nameLength + 16) return 'a complete key (the base64 part is too short)';
  if (comment !== undefined && (UNPRINTABLE.test(comment) || comment.length > 1024)) {
    return 'a comment of printable text (at most 1024 characters)';
  }
  return undefined;
}
