/**
 * Small DOM builders. Every string a caller passes as a child becomes a text node and every attribute
 * is set with `setAttribute`, so text from a model file (layer names, class names, paths) can never
 * turn into markup: the webview never assigns `innerHTML`.
 */

export type Child = Node | string | number | null | undefined | false;

export interface ElementProps {
  class?: string;
  attrs?: Record<string, string | number>;
  title?: string;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

function setAttributes(node: Element, props: ElementProps | undefined): void {
  if (!props) return;
  if (props.class) node.setAttribute('class', props.class);
  if (props.title !== undefined) node.setAttribute('title', props.title);
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, String(value));
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props?: ElementProps, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  setAttributes(node, props);
  append(node, children);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, props?: ElementProps, ...children: Child[]): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, props);
  append(node, children);
  return node;
}

/** A native tooltip for an SVG shape: a `<title>` child, filled as text. */
export function svgTitle(text: string): SVGTitleElement {
  return svg('title', undefined, text);
}

/** A two-column list of facts; values may be nodes (links, badges) or plain text. */
export function facts(rows: Array<[string, Child]>, className = 'facts'): HTMLDListElement {
  const list = el('dl', { class: className });
  for (const [term, value] of rows) {
    list.append(el('dt', undefined, term), el('dd', undefined, value ?? '—'));
  }
  return list;
}
