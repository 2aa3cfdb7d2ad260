// Building DOM nodes without HTML strings: every string becomes a text node or an attribute value,
// so names, prompts and labels from the data can never be parsed as markup. Nothing in the viewer
// assigns innerHTML (a test checks the sources for it).

type Child = Node | string | number | null | undefined | false;

export interface Props {
  readonly class?: string;
  readonly id?: string;
  readonly title?: string;
  /** data-* attributes. */
  readonly data?: Readonly<Record<string, string | number>>;
  /** Other attributes (values set with setAttribute, so as text). */
  readonly attrs?: Readonly<Record<string, string | number | boolean>>;
  readonly on?: Readonly<Partial<Record<keyof HTMLElementEventMap, (e: Event) => void>>>;
}

function apply(e: Element, props: Props | undefined, children: readonly Child[]): void {
  if (props) {
    if (props.class) e.setAttribute('class', props.class);
    if (props.id) e.id = props.id;
    if (props.title) e.setAttribute('title', props.title);
    for (const [k, v] of Object.entries(props.data ?? {})) e.setAttribute(`data-${k}`, String(v));
    for (const [k, v] of Object.entries(props.attrs ?? {})) {
      if (v === false) continue;
      e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const [k, f] of Object.entries(props.on ?? {})) if (f) e.addEventListener(k, f);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  apply(e, props, children);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Readonly<Record<string, string | number>> = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  apply(e, undefined, children);
  return e;
}

/** Replaces an element's children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  apply(parent, undefined, children);
}

export function option(value: string | number, label: string, selected = false): HTMLOptionElement {
  const o = h('option', { attrs: { value: String(value) } }, label);
  o.selected = selected;
  return o;
}

export function select(options: readonly HTMLOptionElement[], onChange: (value: string) => void, props: Props = {}): HTMLSelectElement {
  const sel = h('select', props, ...options);
  sel.addEventListener('change', () => onChange(sel.value));
  return sel;
}
