// The class's device credentials, when the instructor's stores require them: `join` asks the page
// (stores.json says `credentials: true`), takes the class code (FLEET_CLASS_CODE, else typed at a
// prompt, hidden in a terminal), fetches the credentials at /kit/credentials (the code in a header,
// never in the URL) and writes them into ./credentials/ of the attendee's folder (0700; files 0600;
// credentials.env naming the PEM files beside it by relative paths, as `fleetkit stores --secure`
// writes a role's folder). The kit's other commands in the folder reuse it through ./fleetkit.env.
// Nothing here prints the code or a credential.
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import {
  CREDENTIAL_VARIABLES,
  loadCredentials,
  PACKED_ENV_NAME,
  PACKED_PEM_NAMES,
} from '../../lib/cli/credentials-settings.ts';
import { parseEnvFile } from '../../lib/cli/settings.ts';
import type { SettingIssue } from '../../lib/cli/settings-error.ts';
import { errorMessage, type StoreCredentials, toFieldIssues } from '../../lib/registry/index.ts';
import {
  CLASS_CODE_HEADER,
  isClassCode,
  KIT_PATHS,
  type KitCredentialsAnswer,
  kitCredentialsSchema,
} from '../../server/kit-contract.ts';
import { KitError } from './stores-from-page.ts';
import { printable } from './terminal.ts';

/** The folder in the attendee's folder. */
export const CLASS_CREDENTIALS_DIR = 'credentials';
export const CLASS_CODE_VARIABLE = 'FLEET_CLASS_CODE';
const ATTEMPT_TIMEOUT_MS = 8000;
const MAX_ANSWER_BYTES = 256 * 1024;

const ASK_INSTRUCTOR =
  'ask the instructor for the class code (it is said in the room or written on the board, never on the page)';

/**
 * The class code: FLEET_CLASS_CODE, else typed at a prompt (hidden when stdin is a terminal). Throws a
 * KitError when there is none to be had (no terminal and no variable) or it is not a code's shape.
 */
export async function classCode(env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<string> {
  const given = env[CLASS_CODE_VARIABLE];
  if (given !== undefined && given !== '') {
    if (!isClassCode(given))
      throw new KitError(
        `${CLASS_CODE_VARIABLE} is not a class code (6-64 letters or digits): ${ASK_INSTRUCTOR}. Nothing was registered.`,
      );
    say(`  the class code from ${CLASS_CODE_VARIABLE}`);
    return given;
  }
  const typed = (await ask('  class code (from the instructor): ')).trim();
  if (typed === '')
    throw new KitError(
      `no class code typed: ${ASK_INSTRUCTOR}, then join again (or set ${CLASS_CODE_VARIABLE}). Nothing was registered.`,
    );
  if (!isClassCode(typed))
    throw new KitError(
      `that is not a class code (6-64 letters or digits): ${ASK_INSTRUCTOR}, then join again. Nothing was registered.`,
    );
  return typed;
}

/** One line from stdin; in a terminal what is typed is not echoed (a neighbour reads the screen too). */
function ask(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const interactive = process.stdin.isTTY === true;
    let muted = false;
    const output = new Writable({
      write(chunk, _encoding, done) {
        if (!muted) process.stdout.write(chunk);
        done();
      },
    });
    const prompt = createInterface({ input: process.stdin, output, terminal: interactive });
    let answered = false;
    // Not a terminal (a pipe): the question on a line of its own, nothing echoed.
    if (!interactive) {
      muted = true;
      process.stdout.write(`${question}\n`);
    }
    prompt.question(question, (answer) => {
      answered = true;
      if (interactive) process.stdout.write('\n');
      prompt.close();
      resolve(answer);
    });
    // In a terminal: the question shown, then what is typed is not echoed.
    muted = true;
    prompt.on('SIGINT', () => {
      prompt.close();
      process.emit('SIGINT', 'SIGINT');
    });
    prompt.on('close', () => {
      if (!answered) reject(new KitError(`no class code typed (input closed): ${ASK_INSTRUCTOR}`));
    });
  });
}

/** The credentials for the code, from the page; a KitError that says what to do for a wrong code. */
export async function fetchClassCredentials(page: string, code: string): Promise<KitCredentialsAnswer> {
  const source = new URL(KIT_PATHS.credentials.slice(1), page).href;
  let response: Response;
  let body: string;
  try {
    response = await fetch(source, {
      method: 'POST',
      headers: { [CLASS_CODE_HEADER]: code, accept: 'application/json' },
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      redirect: 'error',
    });
    body = await response.text();
  } catch (error) {
    throw new KitError(
      `cannot get the class credentials from ${source} (${printable(errorMessage(error), { max: 200 })}): check the network and join again. Nothing was registered.`,
    );
  }
  if (body.length > MAX_ANSWER_BYTES)
    throw new KitError(
      `${source} answered with more than ${MAX_ANSWER_BYTES / 1024} KB: not the fleetkit page`,
    );
  const said = printable(body.trim(), { max: 300 });
  if (response.status === 403)
    throw new KitError(
      `the page refused the class code: ${said}\nCheck the code with the instructor and join again (or set ${CLASS_CODE_VARIABLE}). Nothing was registered.`,
    );
  if (response.status === 429) throw new KitError(`${said}\nNothing was registered.`);
  if (!response.ok)
    throw new KitError(
      `${source} answered HTTP ${response.status}${said ? `: ${said}` : ''}. Nothing was registered.`,
    );
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new KitError(`${source} did not answer JSON: is it the fleetkit page?`);
  }
  const parsed = kitCredentialsSchema.safeParse(json);
  if (!parsed.success) {
    const issues = toFieldIssues(parsed.error)
      .slice(0, 6)
      .map((i) => `  ${printable(i.field, { max: 80 })}: expected ${i.expected}`);
    throw new KitError(`${source} answered with credentials this kit cannot use:\n${issues.join('\n')}`);
  }
  return parsed.data;
}

export interface SavedCredentials {
  /** <folder>/credentials/credentials.env, absolute. */
  file: string;
  credentials: StoreCredentials;
  summary: string;
}

/**
 * Writes the answer into <dir>/credentials/ (0700, files 0600, through a fresh folder renamed into
 * place) and reads it back as the agents will. credentials.env is written anew from the answer's
 * variables: only the credentials variables, each PEM file under its fixed name beside it (a page cannot
 * make the kit read a file elsewhere on the laptop).
 */
export function saveClassCredentials(dir: string, answer: KitCredentialsAnswer): SavedCredentials {
  const envFile = answer.files.find((f) => f.name === PACKED_ENV_NAME)!;
  let values: Map<string, [string, string]>;
  try {
    values = parseEnvFile(envFile.text, PACKED_ENV_NAME, new Set(CREDENTIAL_VARIABLES));
  } catch {
    throw new KitError(`the page's ${PACKED_ENV_NAME} is not one this kit can use (ask the instructor)`);
  }
  const lines = [
    `# ${PACKED_ENV_NAME}: the class's device credentials, from the instructor's page (node fleetkit.mjs join)`,
  ];
  const files: { name: string; text: string }[] = [];
  for (const variable of CREDENTIAL_VARIABLES) {
    const entry = values.get(variable);
    if (!entry) continue;
    if (variable in PACKED_PEM_NAMES) {
      const name = PACKED_PEM_NAMES[variable as keyof typeof PACKED_PEM_NAMES];
      const file = answer.files.find((f) => f.name === name);
      if (!file)
        throw new KitError(`the page named ${variable} without sending ${name} (ask the instructor)`);
      files.push({ name, text: file.text });
      lines.push(`${variable}=${name}`);
    } else {
      if (entry[0].includes("'"))
        throw new KitError(`the page's ${variable} is not one this kit can use (ask the instructor)`);
      lines.push(`${variable}='${entry[0]}'`);
    }
  }
  files.unshift({ name: PACKED_ENV_NAME, text: `${lines.join('\n')}\n` });

  const target = path.join(dir, CLASS_CREDENTIALS_DIR);
  const fresh = `${target}.${process.pid}.new`;
  const old = `${target}.${process.pid}.old`;
  try {
    rmSync(fresh, { recursive: true, force: true });
    mkdirSync(fresh, { mode: 0o700 });
    chmodSync(fresh, 0o700);
    for (const file of files) writeFileSync(path.join(fresh, file.name), file.text, { mode: 0o600 });
    rmSync(old, { recursive: true, force: true });
    try {
      renameSync(target, old);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    renameSync(fresh, target);
    rmSync(old, { recursive: true, force: true });
  } catch (error) {
    rmSync(fresh, { recursive: true, force: true });
    throw new KitError(
      `cannot write the class credentials into ${target} (${printable(errorMessage(error), { max: 200 })}): join from a folder of your own`,
    );
  }
  const file = path.join(target, PACKED_ENV_NAME);
  const issues: SettingIssue[] = [];
  const loaded = loadCredentials({ credentials: file }, { credentials: 'FLEET_CREDENTIALS' }, issues, dir);
  if (issues.length > 0)
    throw new KitError(
      `the class credentials from the page are not usable:\n${issues
        .slice(0, 6)
        .map((i) => `  ${printable(i.field, { max: 80 })}: expected ${printable(i.expected, { max: 200 })}`)
        .join('\n')}\n(ask the instructor)`,
    );
  return { file, credentials: loaded.credentials, summary: loaded.summary ?? answer.summary };
}
