// A count line's colors: "■ 100 · ■ 20 · +2 more colors", the most common first, a swatch each (a
// dense grid's summary, an audience band's counts). Colors are style values, never markup.
import { el, setBackground } from './dom.ts';
import { formatCount } from './format.ts';

/** How many per color ('' for none yet), most first; ties in color order. */
export function byColor(colors: Iterable<string | null>): [string, number][] {
  const counts = new Map<string, number>();
  for (const color of colors) counts.set(color ?? '', (counts.get(color ?? '') ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** The first `limit` colors as swatch + count (titled with `what`), then "+N more colors". */
export function colorCountNodes(counted: [string, number][], limit: number, what: string): Node[] {
  const nodes: Node[] = [];
  for (const [color, n] of counted.slice(0, limit)) {
    const part = el('span', 'summary-color');
    const swatch = el('span', 'swatch');
    setBackground(swatch, color || null);
    part.append(swatch, formatCount(n));
    part.title = `${formatCount(n)} ${what} in ${color || 'no color yet'}`;
    part.setAttribute('aria-label', part.title);
    nodes.push(part);
  }
  const rest = counted.length - limit;
  if (rest > 0) nodes.push(el('span', 'summary-more', `+${rest} more colors`));
  return nodes;
}

/** Spaces between the parts: nothing on screen (flex), words apart in the text for a screen reader. */
export const spaced = (nodes: Node[]): (Node | string)[] =>
  nodes.flatMap((node, i) => (i > 0 ? [' ', node] : [node]));
