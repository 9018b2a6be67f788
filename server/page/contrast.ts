// Text on a device's color: black or white, whichever contrasts more (WCAG 2's relative luminance and
// contrast ratio), so that an id stays readable on yellow as on navy. Pure (no DOM); the page resolves
// color names to RGB with the browser (dom.ts cssColorRgb) and hands the numbers here.

export type Rgb = readonly [r: number, g: number, b: number];
export type Ink = 'dark' | 'light';

/** "#rgb" or "#rrggbb" to [r, g, b] (0-255); undefined for anything else. */
export function parseHexColor(color: string): Rgb | undefined {
  const match = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (!match) return undefined;
  const hex = match[1]!;
  const digits =
    hex.length === 3 ? [...hex].map((d) => d + d) : [hex.slice(0, 2), hex.slice(2, 4), hex.slice(4, 6)];
  return digits.map((d) => Number.parseInt(d, 16)) as unknown as Rgb;
}

/** WCAG 2 relative luminance, 0 (black) to 1 (white). */
export function relativeLuminance([r, g, b]: Rgb): number {
  const linear = (channel: number) => {
    const c = Math.min(255, Math.max(0, channel)) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** WCAG 2 contrast ratio of two luminances, 1 to 21. */
export function contrastRatio(a: number, b: number): number {
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}

/** The ink (near-black or white text) that reads better on this background. */
export function inkFor(background: Rgb): Ink {
  const luminance = relativeLuminance(background);
  return contrastRatio(luminance, 0) >= contrastRatio(luminance, 1) ? 'dark' : 'light';
}
