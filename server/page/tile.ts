// One device in one store's column: its applied color as the background, who and where it is, its load
// with a CPU sparkline, and how the store keeps it alive. Updated in place; never rebuilt from HTML.
import type { DeviceView, SimulatedDevice, StoreKind } from '../contract.ts';
import { el, setAttr, setBackground, setHidden, setPieces, setText } from './dom.ts';
import { deviceUrl, formatAddress, formatDuration, formatPercent, formatTemperature } from './format.ts';
import { type SimControls, TileSim } from './sim-controls.ts';
import { Sparkline } from './sparkline.ts';

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
  private readonly color: HTMLElement;
  private readonly missing: HTMLElement;
  private readonly head: HTMLElement;
  private readonly body: HTMLElement;
  /** Made when the device first turns out to be simulated. */
  private sim: TileSim | null = null;
  private labelsShown = '';
  private colorShown: string | null | undefined;

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
    head.append(id, this.critical);
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
    foot.append(this.color, this.missing);
    body.append(head, this.host, this.labels, load, this.live, foot);
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

    const load = device.load;
    setText(this.cpu, load ? `CPU ${formatPercent(load.cpuPercent)}` : 'load: waiting…');
    setText(this.mem, load ? `mem ${formatPercent(load.memUsedPercent)}` : '');
    const temperature = load ? formatTemperature(load.temperatureC) : null;
    setText(this.temperature, temperature ?? '');
    setHidden(this.mem, !load);
    setHidden(this.temperature, temperature === null);
    this.sparkline.update(device.history);
    setText(this.color, device.color ? `color ${device.color}` : 'no color yet');
    this.tick(windowMs, serverNow);
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
  tick(windowMs: number, serverNow: number): void {
    const device = this.device;
    const { liveness } = device;
    if (liveness.model !== 'check') {
      const seen = `seen ${formatDuration(serverNow - device.seenAt)} ago`;
      setPieces(this.live, windowMs > 0 ? [seen, `· window ${formatDuration(windowMs)}`] : [seen]);
      return;
    }
    setAttr(this.live, 'title', liveness.output ? `check output: ${liveness.output}` : null);
    if (device.health !== 'critical') {
      setPieces(this.live, [`check ${device.health}`]);
      return;
    }
    const pieces = ['check critical'];
    if (device.criticalSince !== null) pieces.push(`for ${formatDuration(serverNow - device.criticalSince)}`);
    if (device.reapAt !== null) {
      const left = device.reapAt - serverNow;
      pieces.push(left > 0 ? `· reaped in ${formatDuration(left)}` : '· reaping now…');
    }
    setPieces(this.live, pieces);
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
