// Settings of a command, the one path every `fleetkit` command takes: one table gives each setting its
// flag, its FLEET_* variable, its help line and default. Sources, later wins: defaults, the settings
// file, the environment, the flags. The raw strings are then checked by the command, all at once; what
// is wrong is thrown as one SettingsError, each setting named as the user typed it, and printed by one
// printer (exit 2). --help is rendered from the same table (exit 0, nothing done).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isValidationError } from '../registry/index.ts';
import { fileProblem } from './checks.ts';
import { isSettingsError, type SettingIssue, SettingsError } from './settings-error.ts';

export { isSettingsError, type SettingIssue, SettingsError } from './settings-error.ts';

export interface SettingSpec {
  /** Field of the parsed settings. */
  key: string;
  /** Flag without dashes: 'port' is --port. */
  flag: string;
  env: string;
  help: string;
  /** Shown in --help; the schema applies it. */
  defaultText?: string;
  /** May be given several times (or comma-separated in the environment). */
  list?: boolean;
  /**
   * A switch: the flag takes no value (`--systemd`) and reads as 'true'; its variable is given as
   * 1/true/yes or 0/false/no. The raw value is that string: the command's schema checks it.
   */
  switch?: boolean;
  /**
   * A secret (a password, a token): taken from the environment or a settings file only. Its flag is
   * refused with a settings error (a flag shows in `ps` to every user of the machine, and in shell
   * history); --help shows its variable without the flag. Its value is never echoed in any message.
   */
  secret?: boolean;
}

/** What a secret's flag gets instead of its value (see SettingSpec.secret). */
export const secretFlagRefused = (env: string) =>
  `${env}: give it in the environment or a file (a flag shows in ps)`;

export type RawSettings = Record<string, string | string[] | undefined>;

export interface SettingsInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

/** The file of FLEET_* lines a command reads its settings from: `--env-file` / FLEET_ENV_FILE unless said. */
export interface SettingsFile {
  flag: string;
  env: string;
  /** For --help: "read FLEET_DEPLOY_* settings from this file". */
  help: string;
}

export const ENV_FILE: SettingsFile = {
  flag: 'env-file',
  env: 'FLEET_ENV_FILE',
  help: 'read FLEET_* settings from this file (KEY=value lines)',
};

/** What --help says about a command, and the arguments it takes besides its settings. */
export interface CommandAbout {
  usage: string;
  description: string;
  /**
   * Arguments that are no --flag (install-stores' names, sim's subcommand and its N or ID), for --help:
   * one row each. Without it, any such argument is a bad setting.
   */
  positionals?: readonly { name: string; help: string }[];
  settingsFile?: SettingsFile;
}

export interface ReadSettings {
  values: RawSettings;
  help: boolean;
  /** Arguments that are no flag, in order (only when the command takes them). */
  positionals: string[];
  /** Where each value came from, for error messages ("--port", "FLEET_PORT", "agent.env:3"). */
  sources: Record<string, string>;
  /** Unknown flags, flags without their value, stray arguments: to report with the schema's issues. */
  flagIssues: SettingIssue[];
}

const ENV_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/;

/** KEY=value lines, '#' comments, optional quotes; every bad line and unknown key named at once. */
export function parseEnvFile(
  text: string,
  file: string,
  known: ReadonlySet<string>,
): Map<string, [string, string]> {
  const values = new Map<string, [string, string]>();
  const issues: SettingIssue[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const where = `${file}:${index + 1}`;
    if (/^\s*(#|$)/.test(line)) return;
    const match = ENV_LINE.exec(line);
    if (!match) {
      issues.push({ field: where, expected: 'a line of the form FLEET_SETTING=value' });
      return;
    }
    const [, key, rawValue] = match as unknown as [string, string, string];
    if (!known.has(key)) {
      issues.push({ field: where, expected: `a known setting, not "${key}" (see --help)` });
      return;
    }
    const quoted = /^(["'])(.*)\1$/.exec(rawValue);
    values.set(key, [quoted ? (quoted[2] ?? '') : rawValue, where]);
  });
  if (issues.length > 0) throw new SettingsError(issues);
  return values;
}

export function readSettings(
  specs: readonly SettingSpec[],
  input: SettingsInput,
  options: { settingsFile?: SettingsFile; positionals?: boolean } = {},
): ReadSettings {
  const settingsFile = options.settingsFile ?? ENV_FILE;
  const options_: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    [settingsFile.flag]: { type: 'string' },
  };
  for (const spec of specs) {
    options_[spec.flag] = spec.switch
      ? { type: 'boolean' }
      : { type: 'string', multiple: spec.list === true };
  }
  // Not strict: an unknown flag is one more issue, reported with all the others.
  const parsed = parseArgs({
    args: [...input.argv],
    options: options_,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const flagIssues: SettingIssue[] = [];
  const positionals: string[] = [];
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'positional') {
      if (options.positionals) positionals.push(token.value);
      else flagIssues.push({ field: token.value, expected: 'a --flag (no positional arguments)' });
    }
    if (token.kind !== 'option') continue;
    const option = options_[token.name];
    // Known as a flag only to be refused by name (its value, taken as the flag's, is never a stray
    // argument echoed back): once per flag, however often given.
    const secret = specs.find((s) => s.secret && s.flag === token.name);
    if (secret) {
      if (!flagIssues.some((i) => i.field === `--${secret.flag}`))
        flagIssues.push({ field: `--${secret.flag}`, expected: secretFlagRefused(secret.env) });
      continue;
    }
    if (!option) flagIssues.push({ field: token.rawName, expected: 'a known flag (see --help)' });
    else if (option.type === 'string' && token.value === undefined) {
      flagIssues.push({ field: token.rawName, expected: 'a value after the flag' });
    } else if (option.type === 'boolean' && token.value !== undefined && token.name !== 'help') {
      flagIssues.push({ field: token.rawName, expected: 'no value (a switch: give the flag alone)' });
    }
  }
  const flags = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const values: RawSettings = {};
  const sources: Record<string, string> = {};
  const known = new Set(specs.map((s) => s.env));
  const help = flags.help === true;

  const fileFlag = flags[settingsFile.flag];
  const file = (typeof fileFlag === 'string' ? fileFlag : undefined) ?? input.env[settingsFile.env];
  // --help reads no file: it only shows what could be in one.
  if (file && !help) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new SettingsError([
        {
          field: typeof fileFlag === 'string' ? `--${settingsFile.flag}` : settingsFile.env,
          expected: `a readable file (${file}: ${fileProblem(error)})`,
        },
      ]);
    }
    for (const [env, [value, where]] of parseEnvFile(text, file, known)) {
      const spec = specs.find((s) => s.env === env)!;
      values[spec.key] = spec.list ? splitList(value) : value;
      sources[spec.key] = where;
    }
  }
  for (const spec of specs) {
    const fromEnv = input.env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') {
      values[spec.key] = spec.list ? splitList(fromEnv) : fromEnv;
      sources[spec.key] = spec.env;
    }
    const fromFlag = spec.secret ? undefined : flags[spec.flag];
    if (spec.switch && fromFlag === true) {
      values[spec.key] = 'true';
      sources[spec.key] = `--${spec.flag}`;
    } else if (fromFlag !== undefined && typeof fromFlag !== 'boolean') {
      const given = (Array.isArray(fromFlag) ? fromFlag : [fromFlag]).filter(
        (v): v is string => typeof v === 'string',
      );
      values[spec.key] = spec.list ? given.flatMap(splitList) : given.at(-1);
      sources[spec.key] = `--${spec.flag}`;
    }
  }
  return { values, help, positionals, sources, flagIssues };
}

/** A switch's raw value (see SettingSpec.switch): true, false, or undefined when it is neither. */
export function switchValue(raw: string | string[] | undefined): boolean | undefined {
  if (raw === undefined) return false;
  if (typeof raw !== 'string') return undefined;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  return undefined;
}

const splitList = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Renames settings keys in issues to what the user typed: "--port (FLEET_PORT)", "FLEET_PORT (--port)". */
export function nameFields(
  issues: readonly SettingIssue[],
  specs: readonly SettingSpec[],
  sources: Record<string, string>,
): SettingIssue[] {
  return issues.map((issue) => {
    const key = issue.field.split('.')[0]!;
    const spec = specs.find((s) => s.key === key);
    if (!spec) return issue;
    const source = sources[key];
    // A secret has no flag to name (SettingSpec.secret).
    if (spec.secret)
      return {
        field: source && source !== spec.env ? `${spec.env} (${source})` : spec.env,
        expected: issue.expected,
      };
    const field =
      source && source !== `--${spec.flag}` ? `${source} (--${spec.flag})` : `--${spec.flag} (${spec.env})`;
    return { field, expected: issue.expected };
  });
}

/** --help of a command: usage, description, its arguments, then every setting with flag, variable, default. */
export function helpText(about: CommandAbout, specs: readonly SettingSpec[]): string {
  const settingsFile = about.settingsFile ?? ENV_FILE;
  const rows = [
    ...specs.map((s) => [
      s.secret ? '' : `--${s.flag}${s.switch ? '' : s.list ? ' LIST' : ' VALUE'}`,
      s.env,
      `${s.help}${s.defaultText ? ` (default: ${s.defaultText})` : ''}${s.secret ? ' [environment or file only: no flag]' : ''}`,
    ]),
    [`--${settingsFile.flag} FILE`, settingsFile.env, settingsFile.help],
    ['--help', '', 'this help'],
  ];
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  const lines = rows.map(([flag, env, help]) =>
    `  ${flag!.padEnd(w0)}  ${env!.padEnd(w1)}  ${help}`.trimEnd(),
  );
  const positionals = about.positionals ?? [];
  const wp = Math.max(0, ...positionals.map((p) => p.name.length));
  const args =
    positionals.length > 0
      ? `Arguments:\n${positionals.map((p) => `  ${p.name.padEnd(wp)}  ${p.help}`).join('\n')}\n\n`
      : '';
  return `${about.usage}\n\n${about.description}\n\n${args}Settings (flags win over the environment, which wins over the ${settingsFile.flag === ENV_FILE.flag ? 'env file' : 'settings file'}):\n${lines.join('\n')}\n`;
}

export type ParsedCommand<T> = { help: true; text: string } | { help: false; config: Readonly<T> };

/** What a command's check gets besides the raw values. */
export interface CommandArgs {
  /** Arguments that are no flag (CommandAbout.positionals). */
  positionals: readonly string[];
  /** Where each value came from: "--port", "FLEET_PORT", "agent.env:3". */
  sources: Readonly<Record<string, string>>;
}

type Build<T> = (values: RawSettings, issues: SettingIssue[], args: CommandArgs) => T | undefined;

/**
 * A command's settings, the one way: --help gives the text; otherwise `build` turns the raw values into
 * the command's config, adding what is wrong to `issues` (a settings key as the field: it is renamed to
 * the flag or variable the user typed); every problem is then thrown at once as a SettingsError. A
 * registry ValidationError thrown by `build` (a schema of the registry reused) is folded in. `build` may
 * be async, for checks that read a file (flash reads the image's partition table).
 */
export function parseCommand<T extends object>(
  specs: readonly SettingSpec[],
  input: SettingsInput,
  about: CommandAbout,
  build: Build<Promise<T | undefined>>,
): Promise<ParsedCommand<T>>;
export function parseCommand<T extends object>(
  specs: readonly SettingSpec[],
  input: SettingsInput,
  about: CommandAbout,
  build: Build<T>,
): ParsedCommand<T>;
export function parseCommand<T extends object>(
  specs: readonly SettingSpec[],
  input: SettingsInput,
  about: CommandAbout,
  build: Build<T | Promise<T | undefined>>,
): ParsedCommand<T> | Promise<ParsedCommand<T>> {
  const read = readSettings(specs, input, {
    settingsFile: about.settingsFile,
    positionals: (about.positionals ?? []).length > 0,
  });
  if (read.help) return { help: true, text: helpText(about, specs) };
  const issues: SettingIssue[] = [];
  const finish = (config: T | undefined): ParsedCommand<T> => {
    if (issues.length > 0 || read.flagIssues.length > 0 || config === undefined) {
      throw new SettingsError([...read.flagIssues, ...nameFields(issues, specs, read.sources)]);
    }
    return { help: false, config: Object.freeze(config) };
  };
  const folded = (error: unknown): undefined => {
    if (!isValidationError(error)) throw error;
    issues.push(...error.issues);
    return undefined;
  };
  let result: T | Promise<T | undefined> | undefined;
  try {
    result = build(read.values, issues, { positionals: read.positionals, sources: read.sources });
  } catch (error) {
    result = folded(error);
  }
  if (result instanceof Promise) return result.catch(folded).then(finish);
  return finish(result);
}

/** Where a command prints: its help (stdout) and its problems (stderr), a line or a text at a time. */
export interface CommandOutput {
  out(text: string): void;
  err(text: string): void;
}

const CONSOLE: CommandOutput = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => console.error(text),
};

export interface BadSettingsOptions {
  /** What the user should know did not happen: "nothing started" (default), "nothing written". */
  untouched?: string;
  output?: CommandOutput;
}

/** How the user runs the program, for "Run `fleetkit agent --help`" (the attendee kit sets its own). */
let programName = 'fleetkit';

/** The attendee kit's entry says it is run as `node fleetkit.mjs`: every command's messages then say so. */
export function setProgramName(name: string): void {
  programName = name;
}

/** The one printer of bad settings: every setting named as the user typed it; exit code 2. */
export function printBadSettings(
  command: string,
  issues: readonly SettingIssue[],
  options: BadSettingsOptions = {},
): number {
  const lines = issues.map((i) => `  ${i.field}: ${i.expected}`).join('\n');
  (options.output ?? CONSOLE).err(
    `${programName} ${command}: bad settings, ${options.untouched ?? 'nothing started'}:\n${lines}\nRun \`${programName} ${command} --help\` for every setting.`,
  );
  return 2;
}

/**
 * For a command's main(): the config, or the exit code after printing the help (0) or every problem
 * (2, printBadSettings). With an async parse (parseCommand with an async check), a promise of the same.
 */
export function configOrExit<T>(
  command: string,
  parse: () => Promise<ParsedCommand<T>>,
  options?: BadSettingsOptions,
): Promise<Readonly<T> | number>;
export function configOrExit<T>(
  command: string,
  parse: () => ParsedCommand<T>,
  options?: BadSettingsOptions,
): Readonly<T> | number;
export function configOrExit<T>(
  command: string,
  parse: () => ParsedCommand<T> | Promise<ParsedCommand<T>>,
  options: BadSettingsOptions = {},
): Readonly<T> | number | Promise<Readonly<T> | number> {
  const shown = (parsed: ParsedCommand<T>): Readonly<T> | number => {
    if (!parsed.help) return parsed.config;
    (options.output ?? CONSOLE).out(parsed.text);
    return 0;
  };
  const failed = (error: unknown): number => {
    if (!isSettingsError(error)) throw error;
    return printBadSettings(command, error.issues, options);
  };
  try {
    const parsed = parse();
    return parsed instanceof Promise ? parsed.then(shown, failed) : shown(parsed);
  } catch (error) {
    return failed(error);
  }
}
