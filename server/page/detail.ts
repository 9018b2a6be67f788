// The detail panel: what a tile folds away, for the one device selected (click, tap, or the arrow
// keys): where it is (a link to its own page), its labels, its load, its color and how the store keeps
// it alive; for a simulated device its state and, for the presenter, its unplug / replug / kill / stress
// buttons (one set per device, not one per column). A popover at a bottom corner, away from the
// selected tile's column; Escape or its button closes it. Built from text only.
import { browserLoad, machineLoad } from '../../lib/registry/load-kinds.ts';
import type { DeviceView, SimulatedDevice } from '../contract.ts';
import { el, setAttr, setBackground, setText } from './dom.ts';
import { browserLoadText, deviceUrl, formatAddress, formatPercent, formatTemperature } from './format.ts';
import { type SimControls, TileSim } from './sim-controls.ts';

export class DetailPanel {
  readonly element: HTMLElement;
  private readonly title: HTMLElement;
  private readonly body: HTMLElement;
  private readonly simSlot: HTMLElement;
  private sim: { id: string; view: TileSim } | null = null;
  private shown = '';

  constructor(close: () => void) {
    this.element = el('aside', 'detail');
    this.element.id = 'detail';
    this.element.setAttribute('aria-label', 'selected device');
    this.element.setAttribute('aria-live', 'polite');
    this.element.hidden = true;
    const head = el('div', 'detail-head');
    this.title = el('h2', 'detail-title');
    const button = el('button', 'detail-close', '×');
    button.type = 'button';
    button.title = 'close (Esc)';
    button.setAttribute('aria-label', 'close the detail panel');
    button.addEventListener('click', close);
    head.append(this.title, button);
    this.body = el('dl', 'detail-body');
    this.simSlot = el('div', 'detail-sim');
    this.element.append(head, this.simSlot, this.body);
  }

  /** The selected device's simulated state and (for the presenter: `controls`) its buttons. */
  setSim(id: string, sim: SimulatedDevice | undefined, controls: SimControls | null): void {
    if (this.sim?.id !== id) {
      this.sim = { id, view: new TileSim(this.element, id) };
      this.simSlot.replaceChildren(this.sim.view.badge, this.sim.view.actions);
    }
    this.sim.view.update(sim, controls);
  }

  /** Which bottom corner: the one away from the selected tile's column. */
  setSide(side: 'left' | 'right'): void {
    setAttr(this.element, 'data-side', side);
  }

  /** Shows this device (null: hides the panel); `liveText`: the tile's liveness line as it reads now. */
  show(device: DeviceView | null, liveText = ''): void {
    if (!device) {
      this.element.hidden = true;
      this.shown = '';
      return;
    }
    const key = JSON.stringify([device, liveText]);
    this.element.hidden = false;
    if (key === this.shown) return;
    this.shown = key;
    setText(this.title, `${device.id} in ${device.store}`);
    setAttr(this.element, 'data-device', device.id);
    setAttr(this.element, 'data-store', device.store);
    const rows: [string, Node | string][] = [];
    const address = formatAddress(device.host, device.port);
    const href = deviceUrl(device.host, device.port);
    if (href) {
      const link = el('a', 'detail-link', address);
      link.href = href;
      link.target = '_blank';
      link.rel = 'noopener';
      rows.push(['address', link]);
    } else {
      rows.push(['address', address]);
    }
    const load = machineLoad(device.load);
    const browser = browserLoad(device.load);
    if (browser) {
      rows.push(['load', browserLoadText(browser)]);
    } else if (load) {
      const temperature = formatTemperature(load.temperatureC);
      rows.push([
        'load',
        [
          `CPU ${formatPercent(load.cpuPercent)}`,
          `mem ${formatPercent(load.memUsedPercent)}`,
          `load1 ${load.load1}`,
          ...(temperature ? [temperature] : []),
        ].join(' · '),
      ]);
    } else {
      rows.push(['load', 'waiting for its first report']);
    }
    const swatch = el('span', 'swatch');
    setBackground(swatch, device.color);
    const color = el('span', 'detail-color');
    color.append(swatch, device.color ?? 'no color yet');
    rows.push(['color', color]);
    rows.push(['health', device.health]);
    if (liveText) rows.push(['liveness', liveText]);
    const labels = Object.entries(device.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, value] of labels) rows.push([key, value]);
    rows.push(['registered', device.registeredAt]);
    this.body.replaceChildren(
      ...rows.flatMap(([term, value]) => {
        const dd = el('dd', 'detail-value');
        dd.append(value);
        return [el('dt', 'detail-term', term), dd];
      }),
    );
  }
}
