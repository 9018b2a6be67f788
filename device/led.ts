// The board's activity LED (ACT on current Raspberry Pi OS kernels, led0 on older ones) tells the room
// how the device is doing, with no screen attached, through the kernel's sysfs files `trigger` and
// `brightness` (and the timer trigger's `delay_on` / `delay_off`):
//   registered in every store          slow heartbeat   the kernel's heartbeat trigger (else timer 100/1900 ms)
//   a store unreachable, or no route   fast blink       the timer trigger, 100 ms on / 100 ms off
//   conflict (another device, same id) a pattern        two short flashes, a pause (brightness, from here)
//   a color applied                    3 blinks         then back to the state
//   starting, and once stopped         the LED's own trigger, as the agent found it (mmc0: SD card activity)
// The root is a setting (FLEET_LED_ROOT; tests use a fake tree in a temp dir); 'off' leaves the LED
// alone. Without such an LED (not a Pi, or not root) nothing is written and the status says why.
import { EventEmitter } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../lib/registry/index.ts';

export const DEFAULT_LED_ROOT = '/sys/class/leds';
/** The activity LED's names, first found first used. */
export const LED_NAMES = ['ACT', 'led0'] as const;

export const LED_STATES = ['starting', 'registered', 'unreachable', 'conflict', 'stopped'] as const;
export type LedState = (typeof LED_STATES)[number];

export interface LedStatus {
  /** The LED driven ('ACT' or 'led0'), or null: none found, or FLEET_LED_ROOT=off. */
  name: string | null;
  state: LedState;
  /** How it shows now, in words ("slow heartbeat (heartbeat trigger)", "3 blinks: color applied"). */
  shown: string;
  /** A color's 3 blinks are under way. */
  blinking: boolean;
  /** Why it cannot be driven (a write refused), or null. */
  problem: string | null;
}

/** One step of a pattern driven from here: LED on or off, for so many ms. */
type Step = readonly [on: boolean, ms: number];

/** Two short flashes and a pause, over and over: not to be mistaken for a blink or a heartbeat. */
export const CONFLICT_PATTERN: readonly Step[] = [
  [true, 150],
  [false, 150],
  [true, 150],
  [false, 850],
];
/** On and off time of each of the 3 blinks of a color applied. */
export const BLINK_MS = 150;
export const FAST_BLINK_MS = 100;

interface Display {
  trigger: string;
  attrs?: Record<string, string>;
  pattern?: readonly Step[];
  text: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ActivityLed extends EventEmitter<{ change: [LedStatus] }> {
  private dir: string | null = null;
  private name: string | null = null;
  private triggers = new Set<string>();
  private original = 'none';
  private onValue = '1';
  private state: LedState = 'starting';
  private blinking = false;
  private shown: string;
  private problem: string | null = null;
  private closed = false;
  /** Bumped by every display: a pattern or blink of an older one stops at its next step. */
  private generation = 0;
  private patternTimer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();

  /** `root`: the folder holding ACT/ or led0/ (default /sys/class/leds); null: leave the LED alone. */
  constructor(private readonly root: string | null = DEFAULT_LED_ROOT) {
    super();
    this.shown = root === null ? 'left alone (FLEET_LED_ROOT=off)' : 'not found yet';
  }

  /** Finds the LED and what its kernel offers; without one, every later call does nothing. */
  async open(): Promise<void> {
    if (this.root === null) return;
    for (const name of LED_NAMES) {
      const dir = path.join(this.root, name);
      let trigger: string;
      try {
        trigger = await readFile(path.join(dir, 'trigger'), 'utf8');
      } catch {
        continue;
      }
      const words = trigger.trim().split(/\s+/);
      this.triggers = new Set(words.map((w) => w.replace(/^\[|\]$/g, '')));
      this.original = words.find((w) => w.startsWith('['))?.slice(1, -1) ?? 'none';
      const max = Number((await readFile(path.join(dir, 'max_brightness'), 'utf8').catch(() => '1')).trim());
      this.onValue = Number.isInteger(max) && max > 0 ? String(max) : '1';
      this.dir = dir;
      this.name = name;
      this.shown = `its own trigger (${this.original})`;
      this.changed();
      // A state set before the LED was found (set() only notes it then).
      if (this.state !== 'starting') void this.enqueue(() => this.apply());
      return;
    }
    this.shown = `no ${LED_NAMES.join(' or ')} LED under ${this.root}`;
    this.changed();
  }

  status(): LedStatus {
    return {
      name: this.name,
      state: this.state,
      shown: this.shown,
      blinking: this.blinking,
      problem: this.problem,
    };
  }

  /** Shows a state (at once, or after the blinks under way). */
  set(state: LedState): void {
    if (state === this.state || this.closed) return;
    this.state = state;
    if (!this.dir) this.changed();
    else if (!this.blinking) void this.enqueue(() => this.apply());
  }

  /** Blinks `times` (a color was applied), then shows the state again. */
  blink(times = 3): Promise<void> {
    if (!this.dir || this.blinking || this.closed) return Promise.resolve();
    this.blinking = true;
    return this.enqueue(async () => {
      const generation = this.stopPattern();
      this.shown = `${times} blinks: color applied`;
      this.changed();
      let ok = await this.write('trigger', 'none');
      for (let i = 0; ok && i < times && generation === this.generation; i++) {
        ok = await this.write('brightness', this.onValue);
        await sleep(BLINK_MS);
        ok &&= await this.write('brightness', '0');
        await sleep(BLINK_MS);
      }
      this.blinking = false;
      if (generation === this.generation) await this.apply();
      else this.changed();
    });
  }

  /** Gives the LED back its own trigger (the agent is stopping). */
  close(): Promise<void> {
    if (this.closed) return this.queue;
    this.closed = true;
    this.state = 'stopped';
    this.stopPattern();
    if (!this.dir) return Promise.resolve();
    return this.enqueue(() => this.apply());
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(task, task);
    return this.queue;
  }

  private stopPattern(): number {
    clearTimeout(this.patternTimer);
    return ++this.generation;
  }

  private display(state: LedState): Display {
    const timer = this.triggers.has('timer');
    const drive = (pattern: readonly Step[], text: string): Display => ({ trigger: 'none', pattern, text });
    const blinkEvery = (on: number, off: number, what: string): Display =>
      timer
        ? {
            trigger: 'timer',
            attrs: { delay_on: String(on), delay_off: String(off) },
            text: `${what} (timer trigger ${on}/${off} ms)`,
          }
        : drive(
            [
              [true, on],
              [false, off],
            ],
            `${what} (${on}/${off} ms)`,
          );
    switch (state) {
      case 'registered':
        return this.triggers.has('heartbeat')
          ? { trigger: 'heartbeat', text: 'slow heartbeat (heartbeat trigger): registered' }
          : blinkEvery(100, 1900, 'slow blink: registered');
      case 'unreachable':
        return blinkEvery(FAST_BLINK_MS, FAST_BLINK_MS, 'fast blink: a store unreachable');
      case 'conflict':
        return drive(CONFLICT_PATTERN, 'two flashes and a pause: another device holds this id');
      default:
        return { trigger: this.original, text: `its own trigger (${this.original})` };
    }
  }

  private async apply(): Promise<void> {
    const generation = this.stopPattern();
    const display = this.display(this.state);
    let ok = await this.write('trigger', display.trigger);
    for (const [attr, value] of Object.entries(display.attrs ?? {})) ok &&= await this.write(attr, value);
    this.shown = ok ? display.text : 'not driven';
    if (ok && display.pattern) this.step(display.pattern, generation, 0);
    this.changed();
  }

  private step(pattern: readonly Step[], generation: number, index: number): void {
    if (generation !== this.generation) return;
    const [on, ms] = pattern[index % pattern.length]!;
    void this.write('brightness', on ? this.onValue : '0').then((ok) => {
      if (!ok || generation !== this.generation) return;
      this.patternTimer = setTimeout(() => this.step(pattern, generation, index + 1), ms);
      this.patternTimer.unref();
    });
  }

  /** False (and the problem noted once) when the kernel refuses: not root, or a read-only /sys. */
  private async write(attr: string, value: string): Promise<boolean> {
    if (!this.dir) return false;
    const file = path.join(this.dir, attr);
    try {
      await writeWhenAllowed(file, value);
      if (this.problem) {
        this.problem = null;
        this.changed();
      }
      return true;
    } catch (error) {
      const problem = `cannot write ${value} to ${file}: ${errorMessage(error)} (the agent's user needs the udev rule /etc/udev/rules.d/99-fleetkit-led.rules, which install.sh writes)`;
      if (problem !== this.problem) {
        this.problem = problem;
        this.changed();
      }
      return false;
    }
  }

  private changed(): void {
    this.emit('change', this.status());
  }
}

/**
 * The timer trigger's delay_on / delay_off are made anew (root's, 0644) each time that trigger is set;
 * the udev rule gives them to the agent's group on the kernel's change event, a few milliseconds later.
 * A refused write is tried again for up to RULE_WAIT_MS before it counts as refused.
 */
const RULE_WAIT_MS = 1000;
async function writeWhenAllowed(file: string, value: string): Promise<void> {
  for (let waited = 0; ; waited += 50) {
    try {
      return await writeFile(file, value);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EACCES' || waited >= RULE_WAIT_MS) throw error;
      await sleep(50);
    }
  }
}
