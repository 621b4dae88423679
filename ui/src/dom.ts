/// <reference lib="dom" />
// Tiny DOM builder: the UI is a handful of forms and tables, so plain elements built by one
// function keep the bundle small (no framework) and the code greppable.

/** Attribute values: strings, booleans (present/absent), listeners (`on…`) or a style object. */
export type Attrs = Record<
  string,
  string | number | boolean | null | undefined | EventListener | Partial<CSSStyleDeclaration>
>;

/** A child: a node, text, or nothing. Arrays are flattened. */
export type Child = Node | string | number | null | undefined | false | Child[];

/**
 * Creates `<tag>` with attributes and children. `on<event>` attributes become listeners,
 * `class` sets className, booleans toggle presence, `style` takes an object.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") {
        el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
      } else if (k === "style" && typeof v === "object") {
        Object.assign(el.style, v);
      } else if (k === "value" && "value" in el) {
        (el as HTMLInputElement).value = String(v);
      } else if (k === "checked" && "checked" in el) {
        (el as HTMLInputElement).checked = Boolean(v);
      } else {
        el.setAttribute(k === "className" ? "class" : k, v === true ? "" : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

/** Appends children (flattening arrays, skipping empty ones). */
export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces every child of `el`. */
export function replaceChildren(el: Element, ...children: Child[]): void {
  el.textContent = "";
  append(el, children);
}
