// Settings of a command (the agent, the server): one table gives each its flag, its FLEET_* variable,
// its help line and default. Sources, later wins: defaults, the env file, the environment, the flags.
// The result is raw strings: each command validates them with its own schema, all at once.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type FieldIssue, ValidationError } from './errors.ts';

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
}

export type RawSettings = Record<string, string | string[] | undefined>;

export interface SettingsInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

export interface ReadSettings {
  values: RawSettings;
  help: boolean;
  /** Where each value came from, for error messages ("--port", "FLEET_PORT", "agent.env:3"). */
  sources: Record<string, string>;
  /** Unknown flags, flags without their value, stray arguments: to report with the schema's issues. */
  flagIssues: FieldIssue[];
}

const ENV_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/;

/** KEY=value lines, '#' comments, optional quotes; every bad line and unknown key named at once. */
export function parseEnvFile(
  text: string,
  file: string,
  known: ReadonlySet<string>,
): Map<string, [string, string]> {
  const values = new Map<string, [string, string]>();
  const issues: FieldIssue[] = [];
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
  if (issues.length > 0) throw new ValidationError(`env file ${file}`, issues);
  return values;
}

export function readSettings(
  specs: readonly SettingSpec[],
  input: SettingsInput,
  envFileFlag = 'env-file',
): ReadSettings {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    [envFileFlag]: { type: 'string' },
  };
  for (const spec of specs) {
    options[spec.flag] = spec.switch ? { type: 'boolean' } : { type: 'string', multiple: spec.list === true };
  }
  // Not strict: an unknown flag is one more issue, reported with all the others.
  const parsed = parseArgs({
    args: [...input.argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const flagIssues: FieldIssue[] = [];
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'positional')
      flagIssues.push({ field: token.value, expected: 'a --flag (no positional arguments)' });
    if (token.kind !== 'option') continue;
    const option = options[token.name];
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

  const envFile = (flags[envFileFlag] as string | undefined) ?? input.env.FLEET_ENV_FILE;
  if (envFile) {
    let text: string;
    try {
      text = readFileSync(envFile, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error);
      throw new ValidationError('env file', [
        { field: `--${envFileFlag}`, expected: `a readable file (${envFile}: ${reason})` },
      ]);
    }
    for (const [env, [value, where]] of parseEnvFile(text, envFile, known)) {
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
    const fromFlag = flags[spec.flag];
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
  return { values, help: flags.help === true, sources, flagIssues };
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

/** Renames a schema's field names to what the user typed: "--port (FLEET_PORT)". */
export function nameFields(
  error: ValidationError,
  specs: readonly SettingSpec[],
  sources: Record<string, string>,
): ValidationError {
  const issues = error.issues.map((issue) => {
    const key = issue.field.split('.')[0]!;
    const spec = specs.find((s) => s.key === key);
    if (!spec) return issue;
    const source = sources[key];
    const field =
      source && source !== `--${spec.flag}` ? `${source} (--${spec.flag})` : `--${spec.flag} (${spec.env})`;
    return { field, expected: issue.expected };
  });
  return new ValidationError('settings', issues);
}

export function helpText(
  usage: string,
  about: string,
  specs: readonly SettingSpec[],
  envFileFlag = 'env-file',
): string {
  const rows = [
    ...specs.map((s) => [
      `--${s.flag}${s.switch ? '' : s.list ? ' LIST' : ' VALUE'}`,
      s.env,
      `${s.help}${s.defaultText ? ` (default: ${s.defaultText})` : ''}`,
    ]),
    [`--${envFileFlag} FILE`, 'FLEET_ENV_FILE', 'read FLEET_* settings from this file (KEY=value lines)'],
    ['--help', '', 'this help'],
  ];
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  const lines = rows.map(([flag, env, help]) => `  ${flag!.padEnd(w0)}  ${env!.padEnd(w1)}  ${help}`);
  return `${usage}\n\n${about}\n\nSettings (flags win over the environment, which wins over the env file):\n${lines.join('\n')}\n`;
}

export type ParsedCommand<T> = { help: true; text: string } | { help: false; config: Readonly<T> };

/**
 * A command's settings, the one way: --help gives the text; otherwise `build` turns the raw values into
 * the command's config, adding what is wrong to `issues`; every problem is then thrown at once, each
 * named as the user typed it (flag, variable or env file line).
 */
export function parseCommand<T extends object>(
  specs: readonly SettingSpec[],
  input: SettingsInput,
  about: { usage: string; description: string },
  build: (values: RawSettings, issues: FieldIssue[]) => T | undefined,
): ParsedCommand<T> {
  const { values, help, sources, flagIssues } = readSettings(specs, input);
  if (help) return { help: true, text: helpText(about.usage, about.description, specs) };
  const issues: FieldIssue[] = [];
  const config = build(values, issues);
  if (issues.length > 0 || flagIssues.length > 0 || config === undefined) {
    const named = nameFields(new ValidationError('settings', issues), specs, sources);
    throw new ValidationError('settings', [...flagIssues, ...named.issues]);
  }
  return { help: false, config: Object.freeze(config) };
}

/** For a command's main(): the config, or the exit code after printing the help (0) or every problem (2). */
export function configOrExit<T>(command: string, parse: () => ParsedCommand<T>): Readonly<T> | number {
  try {
    const parsed = parse();
    if (!parsed.help) return parsed.config;
    process.stdout.write(parsed.text);
    return 0;
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const lines = error.issues.map((i) => `  ${i.field}: ${i.expected}`).join('\n');
    console.error(
      `fleetkit ${command}: bad settings, nothing started:\n${lines}\nRun \`fleetkit ${command} --help\` for every setting.`,
    );
    return 2;
  }
}
