// The simulated fleet on the tiles: for everyone, a badge with the device's state ("unplugged",
// "killed"); for the presenter, small unplug / replug (restart) / kill buttons that send `simulate` and
// show the answer in the status line. A device's tiles (one per store column) all carry them.
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

type Label = 'unplug' | 'replug' | 'restart' | 'kill';

interface ButtonSpec {
  action: SimAction;
  label: Label;
  enabled: boolean;
}

const DONE: Record<Label, string> = {
  unplug: 'unplugged',
  replug: 'replugged',
  restart: 'restarted',
  kill: 'killed',
};

/** The three buttons in this state: what each says and whether it may be pressed. */
export function simButtons(state: SimulatedDeviceState): ButtonSpec[] {
  const ended = state === 'killed' || state === 'exited';
  return [
    { action: 'unplug', label: 'unplug', enabled: state === 'running' },
    { action: 'replug', label: ended ? 'restart' : 'replug', enabled: state === 'unplugged' || ended },
    { action: 'kill', label: 'kill', enabled: state === 'running' || state === 'unplugged' },
  ];
}

function buttonTitle(label: Label, mode: SimulatedDevice['mode']): string {
  const namespaces = mode === 'namespaces';
  switch (label) {
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

  async run(id: string, action: SimAction, label: Label): Promise<void> {
    if (this.pending.has(id)) return;
    this.pending.add(id);
    this.options.refresh(id);
    const report = this.options.begin(`${label} ${id}…`);
    let result: SimulateResult;
    try {
      result = await this.options.send({ id, action });
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
  private readonly labels = new Map<SimAction, Label>();
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
    setAttr(this.tile, 'data-sim-state', sim?.state ?? null);
    setHidden(this.badge, !sim);
    setText(this.badge, sim?.state ?? '');
    setAttr(this.badge, 'data-tone', sim ? (sim.state === 'running' ? 'ok' : 'bad') : null);
    setAttr(this.badge, 'title', sim ? `simulated device (${sim.mode}): ${sim.state}` : null);
    this.controls = sim ? controls : null;
    setHidden(this.actions, !sim || !controls);
    if (!sim || !controls) return;
    const pending = controls.isPending(this.id);
    setAttr(this.actions, 'aria-busy', pending ? 'true' : null);
    for (const spec of simButtons(sim.state)) {
      const button = this.button(spec.action);
      this.labels.set(spec.action, spec.label);
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
      const label = this.labels.get(action);
      if (this.controls && label) void this.controls.run(this.id, action, label);
    });
    this.buttons.set(action, button);
    this.actions.append(button);
    return button;
  }
}
