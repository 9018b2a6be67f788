// One device in one store's column: its applied color fills it (text in the contrasting ink), its id and
// CPU in projector type, a CPU sparkline, and how the store keeps it alive. Where it is and its labels are
// folded away: in the tile's tooltip (hover) and in the detail panel (detail.ts) when it is selected
// (click, tap or the arrow keys). Updated in place; never rebuilt from HTML.
// The same element in every density (density.ts): style.css folds it to a compact tile or a cell, so a
// change of tier costs no rebuild; as a cell its id and state are in its title and aria-label.
import { machineLoad } from '../../lib/registry/load-kinds.ts';
import type { DeviceView, LivenessDetail, LivenessView, SimulatedDevice, StoreKind } from '../contract.ts';
import { inkFor } from './contrast.ts';
import type { Density } from './density.ts';
import { cssColorRgb, el, setAttr, setBackground, setHidden, setPieces, setText } from './dom.ts';
import {
  deviceUrl,
  formatAddress,
  formatDuration,
  formatPercent,
  formatTemperature,
  loadHeadline,
} from './format.ts';
import { LivenessBar } from './liveness-bar.ts';
import { type SimControls, TileSim } from './sim-controls.ts';
import { Sparkline } from './sparkline.ts';

type ConsulCheckType = Extract<LivenessDetail, { model: 'check' }>['checkType'];

/** Consul's check kinds in words, and what each means for the device (the tile's liveness line). */
const CHECK_NAME: Record<ConsulCheckType, string> = {
  http: 'HTTP check',
  ttl: 'TTL check',
  unknown: 'check',
};
const CHECK_MEANING: Record<ConsulCheckType, string> = {
  http: "Consul's agent polls the device's /health",
  ttl: 'the device tells Consul itself that it is alive (no connection to it needed)',
  unknown: 'a Consul check',
};

export class Tile {
  readonly element: HTMLElement;
  device: DeviceView;
  private readonly critical: HTMLElement;
  private readonly host: HTMLAnchorElement;
  private readonly labels: HTMLUListElement;
  private readonly cpu: HTMLElement;
  private readonly mem: HTMLElement;
  private readonly temperature: HTMLElement;
  private readonly sparkline = new Sparkline();
  private readonly live: HTMLElement;
  /** What is left of its window, as the store says (liveness-bar.ts). */
  private readonly bar = new LivenessBar();
  private readonly color: HTMLElement;
  private readonly missing: HTMLElement;
  /** Where the stores disagree about it: badges drawn by flags.ts. */
  readonly flagSlot: HTMLElement;
  private readonly pick: HTMLElement;
  private readonly head: HTMLElement;
  private readonly body: HTMLElement;
  /** Where it is and its labels: folded away in the tile (style.css), shown by the detail panel. */
  private readonly more: HTMLElement;
  private selected = false;
  /** Made when the device first turns out to be simulated. */
  private sim: TileSim | null = null;
  private labelsShown = '';
  private colorShown: string | null | undefined;
  private density: Density = 'full';
  private picked = false;

  constructor(device: DeviceView, windowMs: number, serverNow: number) {
    this.device = device;
    this.element = el('article', 'tile');
    this.element.dataset.store = device.store;
    this.element.dataset.device = device.id;
    const body = el('div', 'tile-body');
    const head = el('div', 'tile-head');
    this.body = body;
    this.head = head;
    const id = el('h3', 'tile-id', device.id);
    this.critical = el('strong', 'tile-critical', 'CRITICAL');
    this.pick = el('span', 'badge tile-pick', '★ pick');
    this.pick.title = 'next pick: the device a least-loaded client would be handed now';
    this.pick.hidden = true;
    head.append(id, this.pick, this.critical);
    this.host = el('a', 'tile-host');
    this.labels = el('ul', 'chips');
    const load = el('div', 'tile-load');
    this.cpu = el('span', 'metric metric-cpu');
    this.mem = el('span', 'metric metric-mem');
    this.temperature = el('span', 'metric metric-temp');
    load.append(this.cpu, this.mem, this.temperature, this.sparkline.element);
    this.live = el('div', 'tile-live');
    const foot = el('div', 'tile-foot');
    this.color = el('span', 'tile-color');
    this.missing = el('span', 'badge tile-missing');
    this.missing.hidden = true;
    this.flagSlot = el('span', 'tile-flags');
    this.flagSlot.hidden = true;
    foot.append(this.color, this.missing, this.flagSlot);
    this.more = el('div', 'tile-more');
    this.more.append(this.host, this.labels);
    body.append(head, load, this.live, foot, this.more);
    this.live.after(this.bar.element);
    this.element.append(body);
    this.update(device, windowMs, serverNow);
  }

  update(device: DeviceView, windowMs: number, serverNow: number): void {
    this.device = device;
    const tile = this.element;
    setAttr(tile, 'data-health', device.health);
    setAttr(tile, 'data-color', device.color ?? '');
    if (device.color !== this.colorShown) {
      this.colorShown = device.color;
      setBackground(tile, device.color);
      // The text's color on the device's color, where a tier fills the tile with it.
      const rgb = device.color ? cssColorRgb(device.color) : null;
      setAttr(tile, 'data-ink', rgb ? inkFor(rgb) : 'light');
    }
    setHidden(this.critical, device.health !== 'critical');

    const address = formatAddress(device.host, device.port);
    setText(this.host, address);
    const href = deviceUrl(device.host, device.port);
    setAttr(this.host, 'href', href);
    setAttr(this.host, 'rel', href ? 'noopener' : null);
    setAttr(this.host, 'target', href ? '_blank' : null);
    setAttr(this.host, 'title', href ? `open the device's own page (${address})` : null);

    this.renderLabels(device.labels);

    const load = machineLoad(device.load);
    setText(this.cpu, loadHeadline(device.load) ?? 'load: waiting…');
    setText(this.mem, load ? `mem ${formatPercent(load.memUsedPercent)}` : '');
    const temperature = load ? formatTemperature(load.temperatureC) : null;
    setText(this.temperature, temperature ?? '');
    setHidden(this.mem, !load);
    setHidden(this.temperature, temperature === null);
    this.sparkline.update(device.history);
    setText(this.color, device.color ? `color ${device.color}` : 'no color yet');
    this.describe();
    this.tick(windowMs, serverNow);
  }

  /** The column's density: as a dense cell, the tile says who it is in its title and aria-label. */
  setDensity(density: Density): void {
    if (density === this.density) return;
    this.density = density;
    this.bar.setActive(density !== 'dense'); // a cell shows no bar: no frames for it
    this.describe();
  }

  /** The liveness line as it reads now (for the detail panel). */
  get liveText(): string {
    return this.live.textContent ?? '';
  }

  /** The device the presenter's keys act on and the detail panel shows. */
  setSelected(selected: boolean): void {
    if (selected === this.selected) return;
    this.selected = selected;
    setAttr(this.element, 'data-selected', selected ? 'true' : null);
    setAttr(this.element, 'aria-current', selected ? 'true' : null);
  }

  /** The newest countdown the store reported for this device (null: none). */
  setReading(reading: LivenessView | null, columnWindowMs: number, serverNow: number): void {
    this.bar.setReading(reading);
    this.tick(columnWindowMs, serverNow);
  }

  /** Shown or left out by the page's filter (by attendee). */
  setShown(shown: boolean): void {
    setHidden(this.element, !shown);
  }

  /** The device this store would pick next (least-loaded): marked in every density. */
  setPick(picked: boolean): void {
    if (picked === this.picked) return;
    this.picked = picked;
    setHidden(this.pick, !picked);
    setAttr(this.element, 'data-pick', picked ? 'true' : null);
    this.describe();
  }

  /** The "not in <store>" marker: the stores disagree about this device. */
  setMissing(stores: StoreKind[]): void {
    setHidden(this.missing, stores.length === 0);
    setText(this.missing, stores.length > 0 ? `not in ${stores.join(', ')}` : '');
    setAttr(this.missing, 'data-missing', stores.length > 0 ? stores.join(' ') : null);
  }

  /** The simulated device's state badge and, for the presenter (`controls`), its buttons. */
  setSim(sim: SimulatedDevice | undefined, controls: SimControls | null): void {
    if (!sim && !this.sim) return;
    if (!this.sim) {
      this.sim = new TileSim(this.element, this.device.id);
      this.head.insertBefore(this.sim.badge, this.critical);
      this.body.append(this.sim.actions);
    }
    this.sim.update(sim, controls);
  }

  /** Ages and countdowns: called on every change and once a second. */
  tick(columnWindowMs: number, serverNow: number): void {
    const device = this.device;
    const { liveness } = device;
    const windowMs = this.bar.tick(device, columnWindowMs, serverNow); // the device's own window
    if (liveness.model !== 'check') {
      const seen = `seen ${formatDuration(serverNow - device.seenAt)} ago`;
      setPieces(this.live, windowMs > 0 ? [seen, `· window ${formatDuration(windowMs)}`] : [seen]);
      return;
    }
    const checkType = Object.hasOwn(CHECK_NAME, liveness.checkType) ? liveness.checkType : 'unknown';
    const check = CHECK_NAME[checkType];
    const output = liveness.output ? ` · check output: ${liveness.output}` : '';
    setAttr(this.live, 'title', `${check}: ${CHECK_MEANING[checkType]}${output}`);
    setAttr(this.live, 'data-check-type', checkType);
    if (device.health !== 'critical') {
      setPieces(this.live, [`${check} ${device.health}`]);
      return;
    }
    const pieces = [`${check} critical`];
    if (device.criticalSince !== null) pieces.push(`for ${formatDuration(serverNow - device.criticalSince)}`);
    if (device.reapAt !== null) {
      const left = device.reapAt - serverNow;
      pieces.push(left > 0 ? `· reaped in ${formatDuration(left)}` : '· reaping now…');
    }
    setPieces(this.live, pieces);
  }

  /**
   * The tooltip: as a dense cell, who it is and its state (its only text; also its aria-label); as a
   * tile, what is folded away: where it is and its labels.
   */
  private describe(): void {
    const { id, health, load, color, host, port, labels } = this.device;
    if (this.density === 'dense') {
      const parts = [health, loadHeadline(load) ?? 'no load yet', color ? `color ${color}` : 'no color'];
      if (this.picked) parts.push('next pick');
      const text = `${id}: ${parts.join(', ')}`;
      setAttr(this.element, 'title', text);
      setAttr(this.element, 'aria-label', text);
      return;
    }
    const folded = [
      formatAddress(host, port),
      color ? `color ${color}` : 'no color yet',
      ...Object.entries(labels)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, value]) => `${key}: ${value}`),
    ];
    setAttr(this.element, 'title', `${id}\n${folded.join('\n')}`);
    setAttr(this.element, 'aria-label', null);
  }

  private renderLabels(labels: Record<string, string>): void {
    const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const shown = JSON.stringify(entries);
    if (shown === this.labelsShown) return;
    this.labelsShown = shown;
    this.labels.replaceChildren(
      ...entries.map(([key, value]) => {
        const chip = el('li', 'chip');
        chip.append(el('span', 'chip-key', `${key}:`), ` ${value}`);
        return chip;
      }),
    );
    setHidden(this.labels, entries.length === 0);
  }
}
