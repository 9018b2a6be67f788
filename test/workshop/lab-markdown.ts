// The steps of a workshop lab, read from its Markdown: what an attendee is told to run, type, write or
// look at, in order, so that labs.test.ts can do the same against real stores and the text cannot drift.
//
// The Markdown marks them for the harness without changing what a reader sees:
//
//   ```sh lab                 a command, run in the attendee's folder with only `node` on PATH
//   ```sh lab tools           a command for the stores' own tools (etcdctl, zkCli.sh, curl) on PATH
//   ```sh lab bg=join         left running "in its own terminal"; later steps refer to it as `join`
//   ```sh lab exit=1          a command whose failure is the point (exit status 1 expected)
//   ```sh lab timeout=90      more time than the default 60 s for this step
//   ```js lab file=watch.mjs  a file the attendee writes (the block's text, as is)
//   ```text lab input=join    lines typed into the running step `join` (its prompt)
//   ```sh teacher             the teacher's commands (the guide, lab 6): each `fleetkit`/`npm run demo`
//                             line is checked against that command's --help (every flag must exist)
//   ```sh teacher run         ... and the block is run too, with the stores' usual addresses
//                             (127.0.0.1:2379, :2181, :8500) pointing at the test's stores
//
// and one-line HTML comments (invisible once rendered) after a block or between them:
//
//   <!-- lab: expect TEXT -->          the previous block's output contains TEXT (or /a regex/);
//                                      for a background block: wait until it does (it is then ready)
//   <!-- lab: expect-not TEXT -->      the previous command's output does not contain TEXT (or /a regex/)
//   <!-- lab: expect@join TEXT -->     wait until the output of the running step `join` contains TEXT
//   <!-- lab: capture LEASE /re/ -->   the first group of /re/ in the previous block's output (capture@NAME:
//                                      in a running step's) replaces the word LEASE in every later step,
//                                      as the attendee types the number they saw where the text says LEASE
//   <!-- lab: ctrl-c join -->          Ctrl-C in that terminal (SIGINT; waits until it has ended)
//   <!-- lab: ctrl-z agent -->         Ctrl-Z: the program is frozen (SIGSTOP), as an unplugged device
//   <!-- lab: fg agent -->             `fg`: it runs again (SIGCONT)
//   <!-- lab: page CHECK ARGS... -->   a "look at the page" step: the test checks that state through the
//                                      page's socket (labs.test.ts holds the checks by name)
//   <!-- lab: teacher ACTION ARGS... --> what the teacher does at that point (kill a store's leader, ...)
//
// Placeholders (INSTRUCTOR, and what `capture` found) are replaced in commands, typed input, the
// arguments of page and teacher steps, and expectations.
// The word INSTRUCTOR in a step stands for the live page's address (host:port), as written on the board.
// Every `sh`/`js` block of a lab must be marked `lab`: a command a reader may copy is a command we run.

/** Output that must appear (or, `absent`, must not: only after a command that has ended). */
export type Expectation = ({ text: string } | { pattern: RegExp }) & { absent?: true };

interface StepBase {
  /** 1-based line in the Markdown, for messages. */
  line: number;
}

export interface RunStep extends StepBase {
  kind: 'run';
  script: string;
  /** The stores' own tools on PATH (etcdctl, zkCli.sh, curl) besides node. */
  tools: boolean;
  /** Set for a step left running in the background (its own terminal). */
  name: string | undefined;
  exitCode: number;
  timeoutMs: number;
  /** Output that must appear (foreground: by the end; background: before it counts as started). */
  expects: Expectation[];
}

export interface FileStep extends StepBase {
  kind: 'file';
  file: string;
  content: string;
}

export interface InputStep extends StepBase {
  kind: 'input';
  to: string;
  text: string;
  /** Output of `to` that must appear after this input. */
  expects: Expectation[];
}

export interface ExpectStep extends StepBase {
  kind: 'expect';
  from: string;
  expectation: Expectation;
}

export interface CaptureStep extends StepBase {
  kind: 'capture';
  /** A background step's name, or undefined for the previous foreground block. */
  from: string | undefined;
  placeholder: string;
  pattern: RegExp;
}

export interface KeyStep extends StepBase {
  kind: 'key';
  to: string;
  key: 'ctrl-c' | 'ctrl-z' | 'fg';
}

export interface PageStep extends StepBase {
  kind: 'page';
  check: string;
  args: string[];
}

export interface TeacherStep extends StepBase {
  kind: 'teacher';
  action: string;
  args: string[];
}

export interface TeacherCommandStep extends StepBase {
  kind: 'teacher-command';
  script: string;
  /** Run it too (else only its fleetkit flags are checked). */
  run: boolean;
  expects: Expectation[];
}

export type LabStep =
  | RunStep
  | FileStep
  | InputStep
  | ExpectStep
  | CaptureStep
  | KeyStep
  | PageStep
  | TeacherStep
  | TeacherCommandStep;

export interface Lab {
  /** The first heading, without '#'. */
  title: string;
  steps: LabStep[];
}

export class LabSyntaxError extends Error {
  constructor(where: string, line: number, problem: string) {
    super(`${where}:${line}: ${problem}`);
    this.name = 'LabSyntaxError';
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Languages of blocks a reader would run or save: each must be marked for the harness. */
const RUNNABLE = new Set([
  'sh',
  'bash',
  'shell',
  'console',
  'zsh',
  'js',
  'javascript',
  'mjs',
  'ts',
  'powershell',
]);
const NAME = /^[a-z][a-z0-9-]{0,30}$/;
const PLACEHOLDER = /^[A-Z][A-Z0-9_]{1,30}$/;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,60}$/;
const COMMENT = /^\s*<!--\s*lab:\s*(.*?)\s*-->\s*$/;

function expectation(text: string, fail: (problem: string) => never): Expectation {
  const regex = /^\/(.+)\/([imsu]*)$/.exec(text);
  if (!regex) {
    if (text === '') fail('an expectation needs a text or a /regex/');
    return { text };
  }
  try {
    return { pattern: new RegExp(regex[1] as string, regex[2]) };
  } catch (error) {
    return fail(`not a regular expression: ${text} (${(error as Error).message})`);
  }
}

/** `key=value` and bare words of an info string after `lab`. */
function attributes(words: string[], fail: (problem: string) => never): Map<string, string> {
  const found = new Map<string, string>();
  for (const word of words) {
    const at = word.indexOf('=');
    const [key, value] = at < 0 ? [word, ''] : [word.slice(0, at), word.slice(at + 1)];
    if (found.has(key)) fail(`"${key}" given twice`);
    found.set(key, value);
  }
  return found;
}

function blockStep(
  lang: string,
  attrs: Map<string, string>,
  content: string,
  line: number,
  fail: (problem: string) => never,
): LabStep {
  const allowed = (keys: string[]) => {
    for (const key of attrs.keys()) if (!keys.includes(key)) fail(`"${key}" is not for a ${lang} block`);
  };
  if (lang === 'text') {
    allowed(['input']);
    const to = attrs.get('input');
    if (!to || !NAME.test(to)) fail('a text lab block is typed into a running step: input=NAME');
    return { kind: 'input', line, to, text: content, expects: [] };
  }
  if (lang === 'js') {
    allowed(['file']);
    const file = attrs.get('file');
    if (!file || !FILE.test(file)) fail('a js lab block is a file the attendee writes: file=NAME.mjs');
    return { kind: 'file', line, file, content };
  }
  if (lang !== 'sh') fail(`a lab block is sh, js or text, not ${lang}`);
  allowed(['tools', 'bg', 'exit', 'timeout']);
  const name = attrs.get('bg');
  if (name !== undefined && !NAME.test(name)) fail(`bg=${name}: a name of lowercase letters, digits and -`);
  const exitCode = Number(attrs.get('exit') ?? '0');
  if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) fail('exit=N: a whole number 0-255');
  const timeoutSeconds = Number(attrs.get('timeout') ?? DEFAULT_TIMEOUT_MS / 1000);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0 || timeoutSeconds > 600)
    fail('timeout=SECONDS: 1 to 600');
  if (content.trim() === '') fail('an empty command block');
  return {
    kind: 'run',
    line,
    script: content,
    tools: attrs.has('tools'),
    name,
    exitCode,
    timeoutMs: timeoutSeconds * 1000,
    expects: [],
  };
}

/** `verb@name rest`: the verb, the name after @ (if any), and the rest. */
function splitVerb(body: string): { verb: string; at: string | undefined; rest: string } {
  const match = /^([a-z-]+)(?:@([^\s]+))?(?:\s+([\s\S]*))?$/.exec(body);
  return { verb: match?.[1] ?? '', at: match?.[2], rest: (match?.[3] ?? '').trim() };
}

function commentStep(
  body: string,
  line: number,
  previous: LabStep | undefined,
  fail: (problem: string) => never,
): LabStep | undefined {
  const { verb, at, rest } = splitVerb(body);
  if (at !== undefined && !NAME.test(at)) fail(`@${at}: a step name of lowercase letters, digits and -`);
  const words = rest.split(/\s+/).filter(Boolean);
  switch (verb) {
    case 'expect-not': {
      if (at !== undefined) fail('"expect-not" is for a command that has ended, not a running step');
      if (previous?.kind !== 'run' || previous.name !== undefined)
        fail('"expect-not" follows a command block that runs to its end');
      previous.expects.push({ ...expectation(rest, fail), absent: true });
      return undefined;
    }
    case 'expect': {
      const wanted = expectation(rest, fail);
      if (at !== undefined) return { kind: 'expect', line, from: at, expectation: wanted };
      if (previous?.kind !== 'run' && previous?.kind !== 'input' && previous?.kind !== 'teacher-command')
        fail('"expect" follows a command or an input block (or names a running step: expect@NAME)');
      previous.expects.push(wanted);
      return undefined;
    }
    case 'capture': {
      const [placeholder, ...pattern] = words;
      if (!placeholder || !PLACEHOLDER.test(placeholder))
        fail('capture PLACEHOLDER /regex/: the placeholder in capitals');
      const regex = expectation(pattern.join(' '), fail);
      if (!('pattern' in regex)) fail('capture needs a /regex/ with one group');
      if (at === undefined && previous?.kind !== 'run')
        fail('"capture" follows a command block (or names a running step: capture@NAME)');
      return { kind: 'capture', line, from: at, placeholder, pattern: regex.pattern };
    }
    case 'ctrl-c':
    case 'ctrl-z':
    case 'fg': {
      const [to, ...extra] = words;
      if (!to || !NAME.test(to) || extra.length > 0) fail(`${verb} NAME: the running step it goes to`);
      return { kind: 'key', line, to, key: verb };
    }
    case 'page': {
      const [check, ...args] = words;
      if (!check) fail('page CHECK ARGS...: which check');
      return { kind: 'page', line, check, args };
    }
    case 'teacher': {
      const [action, ...args] = words;
      if (!action) fail('teacher ACTION ARGS...: which action');
      return { kind: 'teacher', line, action, args };
    }
    default:
      return fail(
        `unknown lab comment "${verb}" (expect, expect-not, capture, ctrl-c, ctrl-z, fg, page, teacher)`,
      );
  }
}

/** Reads a lab; a LabSyntaxError names the file and line of the first problem. */
export function parseLab(markdown: string, where: string): Lab {
  const lines = markdown.split('\n');
  const steps: LabStep[] = [];
  let title: string | undefined;
  /** Steps left running now (keys and input go to these), and every one started (output to check). */
  const running = new Set<string>();
  const started = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string;
    const line = i + 1;
    const fail = (problem: string): never => {
      throw new LabSyntaxError(where, line, problem);
    };
    const heading = /^#\s+(.+)$/.exec(text);
    if (heading && title === undefined) title = (heading[1] as string).trim();
    const fence = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(text);
    if (fence) {
      const [, indent, marker, info] = fence as unknown as [string, string, string, string];
      // The block's text, up to the closing fence (the same marker or longer), with the indent removed.
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length; j++) {
        const closing = new RegExp(`^\\s*${marker[0] === '`' ? '`' : '~'}{${marker.length},}\\s*$`);
        if (closing.test(lines[j] as string)) break;
        body.push(
          (lines[j] as string).startsWith(indent)
            ? (lines[j] as string).slice(indent.length)
            : (lines[j] as string),
        );
      }
      if (j === lines.length) fail('a code block that is never closed');
      i = j;
      const [lang = '', ...words] = info.trim().split(/\s+/).filter(Boolean);
      if (words[0] === 'teacher') {
        if (lang !== 'sh') fail('a teacher block is sh');
        const extra = words.slice(1).filter((w) => w !== 'run');
        if (extra.length > 0) fail(`"${extra[0]}" is not for a teacher block (only run)`);
        steps.push({
          kind: 'teacher-command',
          line,
          script: `${body.join('\n')}\n`,
          run: words.includes('run'),
          expects: [],
        });
        continue;
      }
      const marked = words[0] === 'lab';
      if (!marked) {
        if (RUNNABLE.has(lang.toLowerCase()))
          fail(
            `a ${lang} block not marked for the test: every command a lab shows is run (\`\`\`sh lab ...)`,
          );
        continue;
      }
      const step = blockStep(lang, attributes(words.slice(1), fail), `${body.join('\n')}\n`, line, fail);
      // A name may be started again: after Ctrl-C, or after a `kill` the harness checks it has ended.
      if (step.kind === 'run' && step.name !== undefined) {
        running.add(step.name);
        started.add(step.name);
      }
      if (step.kind === 'input' && !running.has(step.to)) fail(`no running step named ${step.to}`);
      steps.push(step);
      continue;
    }
    if (/<!--\s*lab\b/.test(text) && !COMMENT.test(text))
      fail('a lab comment is one line: <!-- lab: ... -->');
    const comment = COMMENT.exec(text);
    if (!comment) continue;
    // An expectation or capture without @NAME is about the last block, whatever comments came between.
    const lastBlock = steps.findLast((s) => ['run', 'input', 'file', 'teacher-command'].includes(s.kind));
    const step = commentStep(comment[1] as string, line, lastBlock, fail);
    if (!step) continue;
    if (step.kind === 'key' && !running.has(step.to)) fail(`no running step named ${step.to}`);
    const from = step.kind === 'capture' || step.kind === 'expect' ? step.from : undefined;
    if (from !== undefined && !started.has(from)) fail(`no step named ${from} was started`);
    // After Ctrl-C the program has ended: the name may be used again by a later step.
    if (step.kind === 'key' && step.key === 'ctrl-c') running.delete(step.to);
    steps.push(step);
  }
  if (title === undefined) throw new LabSyntaxError(where, 1, 'a lab starts with a # heading');
  return { title, steps };
}
