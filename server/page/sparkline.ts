// A tiny inline SVG of a device's last samples: CPU (the bold line), memory, and the temperature where
// the device has a sensor. Percent and °C share one 0-100 scale (a Pi runs at 40-80 °C). Built with
// createElementNS; the lines' points are updated in place.
import type { LoadSample } from '../contract.ts';
import { setAttr, svgEl } from './dom.ts';

const WIDTH = 64;
const HEIGHT = 20;

/**
 * The three lines, in drawing order (CPU last, on top). CPU keeps the stylesheet's `.spark-line`; the
 * thinner two are styled by their own attributes (a stylesheet rule would beat them).
 */
const SERIES = [
  { key: 'temp', name: 'temperature', unit: '°C', stroke: '#ff9e64' },
  { key: 'mem', name: 'memory', unit: '%', stroke: '#c6a8ff' },
  { key: 'cpu', name: 'CPU', unit: '%', stroke: null },
] as const;
type Key = (typeof SERIES)[number]['key'];

/** The polyline's points for one series; a gap (no sensor) is left out, a single value drawn flat. */
export function linePoints(history: readonly LoadSample[], key: Key): string {
  const step = history.length > 1 ? WIDTH / (history.length - 1) : 0;
  const points: string[] = [];
  history.forEach((sample, index) => {
    const value = sample[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    const y = HEIGHT - 1 - (Math.min(100, Math.max(0, value)) / 100) * (HEIGHT - 2);
    points.push(`${(index * step).toFixed(1)},${y.toFixed(1)}`);
  });
  // One value known: a flat line across, as the value of the whole window.
  if (points.length === 1) {
    const y = points[0]!.split(',')[1];
    return `0.0,${y} ${WIDTH.toFixed(1)},${y}`;
  }
  return points.join(' ');
}

export class Sparkline {
  readonly element: SVGSVGElement;
  private readonly lines = new Map<Key, SVGPolylineElement>();

  constructor() {
    this.element = svgEl('svg');
    for (const [name, value] of [
      ['class', 'spark'],
      ['viewBox', `0 0 ${WIDTH} ${HEIGHT}`],
      ['width', String(WIDTH)],
      ['height', String(HEIGHT)],
      ['preserveAspectRatio', 'none'],
      ['role', 'img'],
    ] as const) {
      this.element.setAttribute(name, value);
    }
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
    this.element.append(baseline);
    for (const { key, stroke } of SERIES) {
      const line = svgEl('polyline');
      line.setAttribute('class', stroke ? `spark-${key}` : `spark-line spark-${key}`);
      if (stroke) {
        for (const [name, value] of [
          ['fill', 'none'],
          ['stroke', stroke],
          ['stroke-width', '1'],
          ['stroke-linejoin', 'round'],
          ['vector-effect', 'non-scaling-stroke'],
        ] as const) {
          line.setAttribute(name, value);
        }
      }
      this.lines.set(key, line);
      this.element.append(line);
    }
  }

  update(history: LoadSample[]): void {
    // No points (no sensor, no samples) draws nothing.
    for (const { key } of SERIES) setAttr(this.lines.get(key)!, 'points', linePoints(history, key));
    setAttr(this.element, 'aria-label', sparkDescription(history));
  }
}

/** What the lines show, in words, for a screen reader and the tooltip. */
export function sparkDescription(history: readonly LoadSample[]): string {
  const last = history.at(-1);
  if (!last || !Number.isFinite(last.cpu)) return 'no load samples yet';
  const now = [...SERIES]
    .reverse()
    .filter(({ key }) => typeof last[key] === 'number' && Number.isFinite(last[key]))
    .map(({ key, name, unit }) => `${name} ${Math.round(last[key] as number)} ${unit}`);
  return `last ${history.length} samples; now ${now.join(', ')}`;
}
