// Runs a lab's steps as an attendee would: in an empty folder holding only the downloaded fleetkit.mjs,
// each command in a shell with nothing but `node` on PATH (the stores' own tools only where the lab says
// so), background steps as terminals left running, keys as signals to that terminal's processes, and
// the page's and the teacher's steps through the checks and actions the test hands in.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../support/eventually.ts';
import type { Expectation, Lab, LabStep, RunStep } from './lab-markdown.ts';
import { fleetkitCallProblems } from './teacher-commands.ts';

/** A "look at the page" check or a teacher's action, by the name the Markdown gives it. */
export type LabAction = (args: string[], lab: LabRun) => Promise<void>;

export interface LabOptions {
  /** The lab's file name, for messages. */
  where: string;
  /** The kit as the attendee downloaded it; undefined: the folder starts empty (the lab downloads it). */
  kit: Buffer | undefined;
  /** Placeholder words and what they stand for (INSTRUCTOR: the page's host:port). */
  placeholders: Record<string, string>;
  checks: Record<string, LabAction>;
  teacher: Record<string, LabAction>;
  /** `fleetkit <command> --help` of this checkout, or undefined when there is no such command. */
  fleetkitHelp: (command: string) => Promise<string | undefined>;
  /**
   * The teacher's machine as the test has it: the stores' usual addresses in a teacher block that is run
   * (http://127.0.0.1:2379 ...: such a block names them) and what they stand for here.
   */
  usualAddresses: Record<string, string>;
  /** One line per step with its time, for the test's diagnostics. */
  report: (line: string) => void;
}

const NODE_DIR = path.dirname(process.execPath);
const ZKCLI = process.env.FLEET_ZKCLI ?? '/usr/share/zookeeper/bin/zkCli.sh';
/** How long a Ctrl-C'd program may take to deregister and end. */
const CTRL_C_MS = 20_000;

/** A folder of the by-hand tools only: etcdctl and curl as found, zkCli.sh as Debian installs it. */
async function toolsDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fleetkit-lab-tools-'));
  for (const tool of ['etcdctl', 'curl']) {
    const found = ['/usr/bin', '/usr/local/bin', '/bin'].map((d) => path.join(d, tool));
    await writeFile(
      path.join(dir, tool),
      `#!/bin/sh\nfor t in ${found.join(' ')}; do [ -x "$t" ] && exec "$t" "$@"; done\necho "${tool}: not installed" >&2; exit 127\n`,
    );
  }
  // zkCli.sh finds its zkEnv.sh beside itself: a wrapper, not a symlink.
  await writeFile(path.join(dir, 'zkCli.sh'), `#!/bin/sh\nexec ${ZKCLI} "$@"\n`);
  for (const tool of ['etcdctl', 'curl', 'zkCli.sh']) await chmod(path.join(dir, tool), 0o755);
  return dir;
}

const describe = (e: Expectation) => ('text' in e ? JSON.stringify(e.text) : String(e.pattern));
const matches = (output: string, e: Expectation) =>
  'text' in e ? output.includes(e.text) : e.pattern.test(output);
const tail = (text: string, n = 1500) => (text.length > n ? `...${text.slice(-n)}` : text);

interface Terminal {
  child: ChildProcess;
  output: string;
  closed: Promise<void>;
  ended: boolean;
}

/** One run of one lab: its folder, its terminals, what was captured. */
export class LabRun {
  readonly terminals = new Map<string, Terminal>();
  readonly values: Record<string, string>;
  folder = '';
  private tools = '';
  /**
   * When the last thing the attendee did (a command, a key, typed input, the teacher's action) was
   * done: the moment a page check measures from ("gone from etcd 2.1 s after the kill").
   */
  lastActionAt = 0;
  /** The output of the last foreground command (what `capture` without a name reads). */
  private lastOutput = '';

  constructor(
    readonly lab: Lab,
    private readonly options: LabOptions,
  ) {
    this.values = { ...options.placeholders };
  }

  /** The placeholders replaced, each a whole word (INSTRUCTOR, LEASE, ...); `captured` only: LEASE, .... */
  fill(text: string, capturedOnly = false): string {
    let filled = text;
    for (const [word, value] of Object.entries(this.values)) {
      if (capturedOnly && word in this.options.placeholders) continue;
      filled = filled.replace(new RegExp(`\\b${word}\\b`, 'g'), value);
    }
    return filled;
  }

  /**
   * An expectation with what `capture` found put in (a regex's source too). The given placeholders
   * (INSTRUCTOR) stay: a program may print the word itself ("node fleetkit.mjs join INSTRUCTOR").
   */
  private expected(e: Expectation): Expectation {
    const filled =
      'text' in e
        ? { text: this.fill(e.text, true) }
        : { pattern: new RegExp(this.fill(e.pattern.source, true), e.pattern.flags) };
    return e.absent ? { ...filled, absent: true } : filled;
  }

  /** A line for the test's diagnostics (a check's measured figures). */
  note(line: string): void {
    this.options.report(`${this.options.where}: ${line}`);
  }

  /** What a running (or ended) background step printed so far. */
  output(name: string): string {
    const terminal = this.terminals.get(name);
    if (!terminal) throw new Error(`${this.options.where}: no step named ${name}`);
    return terminal.output;
  }

  async run(): Promise<void> {
    this.folder = await mkdtemp(path.join(tmpdir(), 'fleetkit-attendee-'));
    if (this.options.kit) await writeFile(path.join(this.folder, 'fleetkit.mjs'), this.options.kit);
    this.tools = await toolsDir();
    let passed = false;
    try {
      for (const step of this.lab.steps) {
        const started = Date.now();
        try {
          await this.step(step);
        } catch (error) {
          throw new Error(
            `${this.options.where}:${step.line} (${step.kind}): ${(error as Error).message}${this.terminalsTail()}`,
            { cause: error },
          );
        }
        if (step.kind !== 'page' && step.kind !== 'expect' && step.kind !== 'capture')
          this.lastActionAt = started;
        this.options.report(`${this.options.where}:${step.line} ${step.kind} ${Date.now() - started} ms`);
      }
      passed = true;
    } finally {
      await this.closeTerminals();
      // A failed lab's folder stays, for a look at what the attendee would have had.
      if (passed) await rm(this.folder, { recursive: true, force: true });
      else this.options.report(`${this.options.where}: its folder is kept: ${this.folder}`);
      await rm(this.tools, { recursive: true, force: true });
    }
  }

  private terminalsTail(): string {
    return [...this.terminals]
      .map(([name, t]) => `\n--- ${name} (${t.ended ? 'ended' : 'running'}) ---\n${tail(t.output)}`)
      .join('');
  }

  private env(tools: boolean): Record<string, string> {
    const PATH = tools ? [this.tools, NODE_DIR, '/usr/bin', '/bin'].join(':') : NODE_DIR;
    return { PATH, HOME: this.folder, LANG: 'C.UTF-8', USER: 'attendee', TERM: 'dumb' };
  }

  private start(step: RunStep): Terminal {
    // Its own process group, as a terminal's: keys go to the shell and what it runs alike.
    const child = spawn('/bin/sh', ['-e', '-c', this.fill(step.script)], {
      cwd: this.folder,
      env: this.env(step.tools),
      detached: true,
      stdio: [step.name ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const terminal: Terminal = { child, output: '', closed: Promise.resolve(), ended: false };
    child.stdout?.on('data', (d) => (terminal.output += d));
    child.stderr?.on('data', (d) => (terminal.output += d));
    // 'close': the shell and everything holding its output have ended (a Ctrl-C'd shell may end first).
    terminal.closed = new Promise((resolve) =>
      child.on('close', () => {
        terminal.ended = true;
        resolve();
      }),
    );
    child.stdin?.on('error', () => {}); // typing into a program that has ended
    return terminal;
  }

  private signal(terminal: Terminal, signal: NodeJS.Signals): void {
    if (terminal.ended || terminal.child.pid === undefined) return;
    try {
      process.kill(-terminal.child.pid, signal);
    } catch {} // ended meanwhile
  }

  private async waitFor(what: string, terminal: Terminal, expectation: Expectation, timeoutMs: number) {
    const wanted = this.expected(expectation);
    await eventually(
      `${what} to print ${describe(wanted)}`,
      () => {
        if (matches(terminal.output, wanted)) return true;
        if (terminal.ended) throw new Error(`${what} ended without printing ${describe(wanted)}`);
        return false;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  private async step(step: LabStep): Promise<void> {
    switch (step.kind) {
      case 'file':
        await writeFile(path.join(this.folder, step.file), step.content);
        return;
      case 'run':
        return step.name ? this.background(step, step.name) : this.foreground(step);
      case 'input': {
        const terminal = this.terminal(step.to);
        const from = terminal.output.length;
        terminal.child.stdin?.write(this.fill(step.text));
        for (const wanted of step.expects.map((e) => this.expected(e))) {
          await eventually(
            `${step.to} to answer ${describe(wanted)}`,
            () => matches(terminal.output.slice(from), wanted),
            { timeoutMs: 60_000, intervalMs: 50 },
          );
        }
        return;
      }
      case 'expect':
        return this.waitFor(step.from, this.terminal(step.from, true), step.expectation, 60_000);
      case 'capture': {
        const output = step.from ? this.terminal(step.from, true).output : this.lastOutput;
        const found = step.pattern.exec(output)?.[1];
        if (found === undefined)
          throw new Error(`nothing matched ${step.pattern} to capture ${step.placeholder}`);
        this.values[step.placeholder] = found;
        return;
      }
      case 'key': {
        const terminal = this.terminal(step.to);
        if (step.key === 'ctrl-c') {
          this.signal(terminal, 'SIGINT');
          await Promise.race([
            terminal.closed,
            new Promise((_, reject) =>
              setTimeout(
                () => reject(new Error(`${step.to} still running ${CTRL_C_MS} ms after Ctrl-C`)),
                CTRL_C_MS,
              ),
            ),
          ]);
        } else {
          // A terminal's Ctrl-Z sends SIGTSTP, which the kernel ignores in a group with no terminal (ours);
          // SIGSTOP freezes the same way.
          this.signal(terminal, step.key === 'ctrl-z' ? 'SIGSTOP' : 'SIGCONT');
        }
        return;
      }
      case 'teacher-command': {
        const problems = await fleetkitCallProblems(step.script, this.options.fleetkitHelp);
        if (problems.length > 0) throw new Error(problems.join('\n'));
        if (!step.run) return;
        let script = step.script;
        for (const [usual, here] of Object.entries(this.options.usualAddresses))
          script = script.replaceAll(usual, here);
        return this.foreground({
          ...step,
          kind: 'run',
          script,
          tools: true,
          name: undefined,
          exitCode: 0,
          timeoutMs: 60_000,
        });
      }
      case 'page':
      case 'teacher': {
        const table = step.kind === 'page' ? this.options.checks : this.options.teacher;
        const name = step.kind === 'page' ? step.check : step.action;
        const action = table[name];
        if (!action) throw new Error(`no ${step.kind} step named "${name}" in the test`);
        await action(
          step.args.map((arg) => this.fill(arg)),
          this,
        );
        return;
      }
    }
  }

  private terminal(name: string, endedToo = false): Terminal {
    const terminal = this.terminals.get(name);
    if (!terminal) throw new Error(`no step named ${name} was started`);
    if (terminal.ended && !endedToo) throw new Error(`${name} has ended:\n${tail(terminal.output)}`);
    return terminal;
  }

  private async foreground(step: RunStep): Promise<void> {
    const terminal = this.start(step);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), step.timeoutMs);
    });
    const result = await Promise.race([terminal.closed, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.signal(terminal, 'SIGKILL');
      throw new Error(
        `still running after ${step.timeoutMs} ms:\n${this.fill(step.script)}\n${tail(terminal.output)}`,
      );
    }
    this.lastOutput = terminal.output;
    const code = terminal.child.exitCode;
    if (code !== step.exitCode) {
      throw new Error(
        `exit status ${code ?? terminal.child.signalCode}, expected ${step.exitCode}:\n${this.fill(step.script)}\n${tail(terminal.output)}`,
      );
    }
    for (const wanted of step.expects.map((e) => this.expected(e))) {
      if (wanted.absent && matches(terminal.output, wanted))
        throw new Error(
          `${describe(wanted)} in the output of:\n${this.fill(step.script)}\n${tail(terminal.output)}`,
        );
      if (!wanted.absent && !matches(terminal.output, wanted))
        throw new Error(
          `no ${describe(wanted)} in the output of:\n${this.fill(step.script)}\n${tail(terminal.output)}`,
        );
    }
  }

  private async background(step: RunStep, name: string): Promise<void> {
    const before = this.terminals.get(name);
    if (before && !before.ended) {
      // Killed a moment ago (`kill -9 PID`): its shell ends as soon as the killed program is reaped.
      await eventually(`${name} (started again) to have ended first`, () => before.ended, {
        timeoutMs: 5000,
      });
    }
    const terminal = this.start(step);
    this.terminals.set(name, terminal);
    for (const wanted of step.expects) await this.waitFor(name, terminal, wanted, step.timeoutMs);
  }

  /** What an attendee does at the end: Ctrl-C in every terminal still open (then SIGKILL after 20 s). */
  private async closeTerminals(): Promise<void> {
    await Promise.all(
      [...this.terminals.values()].map(async (terminal) => {
        if (terminal.ended) return;
        this.signal(terminal, 'SIGCONT');
        this.signal(terminal, 'SIGINT');
        const timer = setTimeout(() => this.signal(terminal, 'SIGKILL'), CTRL_C_MS);
        await terminal.closed;
        clearTimeout(timer);
      }),
    );
  }
}
