/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Small DOM helpers for the page. Everything that comes from the server is set as text or as a plain
// attribute value through these: the page never parses a string as HTML.

import { parseHexColor, type Rgb } from './contrast.ts';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an element with an optional class and text (set with textContent). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

export function svgEl<K extends keyof SVGElementTagNameMap>(tag: K): SVGElementTagNameMap[K] {
  return document.createElementNS(SVG_NS, tag);
}

/** Sets text only when it differs, so an unchanged tile costs no DOM mutation. */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** Sets (or removes, for null) an attribute only when it differs. */
export function setAttr(element: Element, name: string, value: string | null): void {
  if (value === null) {
    if (element.hasAttribute(name)) element.removeAttribute(name);
  } else if (element.getAttribute(name) !== value) {
    element.setAttribute(name, value);
  }
}

/**
 * Text in pieces that each stay on one line: a line breaks only between pieces ("seen 4 s ago" /
 * "· window 5 s"), never inside "5 s". Spans are reused, so a tick costs only text updates.
 */
export function setPieces(element: HTMLElement, pieces: string[]): void {
  if (element.childElementCount !== pieces.length) {
    const nodes: (Node | string)[] = [];
    pieces.forEach((piece, index) => {
      if (index > 0) nodes.push(' ');
      nodes.push(el('span', 'piece', piece));
    });
    element.replaceChildren(...nodes);
    return;
  }
  pieces.forEach((piece, index) => {
    setText(element.children[index]!, piece);
  });
}

export function setHidden(element: HTMLElement, hidden: boolean): void {
  if (element.hidden !== hidden) element.hidden = hidden;
}

/**
 * Paints a background color from the server. The browser ignores a value that is not a color, so a bad
 * value leaves the neutral background: clear first, or an invalid value would keep the previous color.
 */
export function setBackground(element: HTMLElement, color: string | null): void {
  element.style.backgroundColor = '';
  if (color) element.style.backgroundColor = color;
}

const colorCache = new Map<string, Rgb | null>();
let colorContext: CanvasRenderingContext2D | null | undefined;

/**
 * A CSS color (hex or a name such as "gold") as [r, g, b], resolved by the browser's own parser (a
 * canvas's fillStyle normalizes it to #rrggbb; no layout, no element); null when it is not a color.
 */
export function cssColorRgb(color: string): Rgb | null {
  const cached = colorCache.get(color);
  if (cached !== undefined) return cached;
  colorContext ??= document.createElement('canvas').getContext('2d');
  const context = colorContext;
  let rgb: Rgb | null = null;
  if (context) {
    // An unparsable value leaves fillStyle as it was: two different starting values tell it apart.
    const read = (start: string) => {
      context.fillStyle = start;
      context.fillStyle = color;
      return String(context.fillStyle);
    };
    const resolved = read('#000000');
    if (resolved === read('#ffffff')) rgb = parseHexColor(resolved) ?? null;
  }
  if (colorCache.size > 500) colorCache.clear();
  colorCache.set(color, rgb);
  return rgb;
}
