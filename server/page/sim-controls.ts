// The simulated fleet on the tiles: for everyone, a badge with the device's state ("unplugged",
// "killed") and the load it was told to carry; for the presenter, small unplug / replug (restart) /
// kill / stress (calm) buttons that send `simulate` and show the answer in the status line. A device's
// tiles (one per store column) all carry them.
import type { Ack, SimAction, SimulatedDevice, SimulatedDeviceState, SimulateRequest } from '../contract.ts';
import type { Report } from './controls.ts';
import { el, setAttr, setHidden, setText } from './dom.ts';

export type SimulateResult = Ack<SimulatedDevice>;

export interface SimControlsOptions {
  send: (request: SimulateRequest) => Promise<SimulateResult>;
  /** Shows a request under way in the status line; returns how to show its answer. */
  begin: (pendingText: string) => Report;
  /** The device's buttons need a redraw on each of its tiles (a request started or ended). */
  refresh: (id: string) => void;
  /** The server answered with the device's new state. */
  answered: (device: SimulatedDevice) => void;
}

type Label = 'unplug' | 'replug' | 'restart' | 'kill' | 'stress' | 'calm';

/** The page's stress: most of one core for a minute, enough to move a least-loaded pick and to be seen. */
export const PAGE_STRESS = { percent: 80, seconds: 60 } as const;
const CALM = { percent: 0, seconds: 0 } as const;

interface ButtonSpec {
  action: SimAction;
  label: Label;
  enabled: boolean;
  /** stress only: the load it asks for. */
  load?: { percent: number; seconds: number };
}

const DONE: Record<Label, string> = {
  unplug: 'unplugged',
  replug: 'replugged',
  restart: 'restarted',
  kill: 'killed',
  stress: `burns ${PAGE_STRESS.percent} % of one core for ${PAGE_STRESS.seconds} s`,
  calm: 'is back to its base load',
};

/** The four buttons in this state: what each says and whether it may be pressed. */
export function simButtons(state: SimulatedDeviceState, stressed = false): ButtonSpec[] {
  const ended = state === 'killed' || state === 'exited';
  return [
    { action: 'unplug', label: 'unplug', enabled: state === 'running' },
    { action: 'replug', label: ended ? 'restart' : 'replug', enabled: state === 'unplugged' || ended },
    { action: 'kill', label: 'kill', enabled: state === 'running' || state === 'unplugged' },
    stressed
      ? { action: 'stress', label: 'calm', enabled: state === 'running', load: CALM }
      : { action: 'stress', label: 'stress', enabled: state === 'running', load: PAGE_STRESS },
  ];
}

function buttonTitle(label: Label, mode: SimulatedDevice['mode']): string {
  const namespaces = mode === 'namespaces';
  switch (label) {
    case 'stress':
      return `burn ${PAGE_STRESS.percent} % of one core in its process for ${PAGE_STRESS.seconds} s: its CPU figure rises in every store`;
    case 'calm':
      return 'stop the load it was told to carry';
    case 'unplug':
      return namespaces ? 'take its network link down' : 'freeze its process (SIGSTOP)';
    case 'replug':
      return namespaces ? 'bring its network link back up' : 'let its process run again (SIGCONT)';
    case 'restart':
      return 'start the device again';
    case 'kill':
      return 'kill its process: no goodbye to the stores';
  }
}

/** Sends the presenter's requests, one at a time per device. */
export class SimControls {
  private readonly pending = new Set<string>();

  constructor(private readonly options: SimControlsOptions) {}

  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  async run(id: string, action: SimAction, label: Label, load?: ButtonSpec['load']): Promise<void> {
    if (this.pending.has(id)) return;
    this.pending.add(id);
    this.options.refresh(id);
    const report = this.options.begin(`${label} ${id}…`);
    let result: SimulateResult;
    try {
      result = await this.options.send({ id, action, ...load });
    } catch (error) {
      result = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    this.pending.delete(id);
    if (result.ok) this.options.answered(result.data);
    this.options.refresh(id);
    if (result.ok) report('ok', `${id} ${DONE[label]}`);
    else report('error', `${label} ${id} failed: ${result.error}`);
  }
}

/** One tile's badge and buttons. The buttons are made on first use (most tiles never need them). */
export class TileSim {
  readonly badge: HTMLElement;
  readonly actions: HTMLElement;
  private readonly buttons = new Map<SimAction, HTMLButtonElement>();
  private readonly specs = new Map<SimAction, ButtonSpec>();
  private controls: SimControls | null = null;

  constructor(
    private readonly tile: HTMLElement,
    private readonly id: string,
  ) {
    this.badge = el('span', 'badge tile-sim-state');
    this.actions = el('div', 'sim-actions');
    this.actions.setAttribute('role', 'group');
    this.actions.setAttribute('aria-label', `simulate on ${id}`);
  }

  /** `controls` null: no buttons (the audience, or not a simulated device). */
  update(sim: SimulatedDevice | undefined, controls: SimControls | null): void {
    const stress = sim?.stress ?? null;
    setAttr(this.tile, 'data-sim-state', sim?.state ?? null);
    setAttr(this.tile, 'data-sim-stress', stress ? String(stress.percent) : null);
    setHidden(this.badge, !sim);
    setText(this.badge, sim ? `${sim.state}${stress ? ` · stress ${stress.percent} %` : ''}` : '');
    setAttr(this.badge, 'data-tone', sim ? (sim.state === 'running' ? 'ok' : 'bad') : null);
    setAttr(
      this.badge,
      'title',
      sim
        ? `simulated device (${sim.mode}): ${sim.state}${stress ? `, told to burn ${stress.percent} % of one core` : ''}`
        : null,
    );
    this.controls = sim ? controls : null;
    setHidden(this.actions, !sim || !controls);
    if (!sim || !controls) return;
    const pending = controls.isPending(this.id);
    setAttr(this.actions, 'aria-busy', pending ? 'true' : null);
    for (const spec of simButtons(sim.state, stress !== null)) {
      const button = this.button(spec.action);
      this.specs.set(spec.action, spec);
      setText(button, spec.label);
      setAttr(button, 'title', buttonTitle(spec.label, sim.mode));
      setAttr(button, 'aria-label', `${spec.label} ${this.id}`);
      button.disabled = pending || !spec.enabled;
    }
  }

  private button(action: SimAction): HTMLButtonElement {
    const existing = this.buttons.get(action);
    if (existing) return existing;
    const button = el('button', `sim-button sim-${action}`);
    button.type = 'button';
    button.dataset.simAction = action;
    button.addEventListener('click', () => {
      const spec = this.specs.get(action);
      if (this.controls && spec) void this.controls.run(this.id, action, spec.label, spec.load);
    });
    this.buttons.set(action, button);
    this.actions.append(button);
    return button;
  }
}
