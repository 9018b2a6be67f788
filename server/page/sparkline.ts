// A tiny inline SVG line of a device's CPU over its last samples. Built with createElementNS; its
// points are updated in place.
import type { LoadSample } from '../contract.ts';
import { setAttr, svgEl } from './dom.ts';

const WIDTH = 64;
const HEIGHT = 20;

export class Sparkline {
  readonly element: SVGSVGElement;
  private readonly line: SVGPolylineElement;

  constructor() {
    this.element = svgEl('svg');
    this.element.setAttribute('class', 'spark');
    this.element.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
    this.element.setAttribute('width', String(WIDTH));
    this.element.setAttribute('height', String(HEIGHT));
    this.element.setAttribute('preserveAspectRatio', 'none');
    this.element.setAttribute('role', 'img');
    const baseline = svgEl('line');
    baseline.setAttribute('class', 'spark-base');
    for (const [name, value] of [
      ['x1', '0'],
      ['x2', String(WIDTH)],
      ['y1', String(HEIGHT - 0.5)],
      ['y2', String(HEIGHT - 0.5)],
    ] as const) {
      baseline.setAttribute(name, value);
    }
    this.line = svgEl('polyline');
    this.line.setAttribute('class', 'spark-line');
    this.element.append(baseline, this.line);
  }

  update(history: LoadSample[]): void {
    const samples = history.filter((sample) => Number.isFinite(sample.cpu));
    const step = samples.length > 1 ? WIDTH / (samples.length - 1) : 0;
    const points = samples.map((sample, index) => {
      const cpu = Math.min(100, Math.max(0, sample.cpu));
      const y = HEIGHT - 1 - (cpu / 100) * (HEIGHT - 2);
      return `${(index * step).toFixed(1)},${y.toFixed(1)}`;
    });
    if (points.length === 1) points.push(`${WIDTH},${points[0]!.split(',')[1]}`);
    setAttr(this.line, 'points', points.join(' '));
    const last = samples.at(-1);
    setAttr(
      this.element,
      'aria-label',
      last
        ? `CPU over the last ${samples.length} samples, now ${Math.round(last.cpu)} %`
        : 'no CPU samples yet',
    );
  }
}
