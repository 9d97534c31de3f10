/**
 * HTML built by one tagged template that escapes every interpolated value: a merchant or product id
 * is merchants' input (`<script>`, quotes, ampersands included) and must show as text. Only
 * fragments made by this template (or `raw` of a constant) go in unescaped.
 */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an element's content or a quoted attribute value. */
export const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);

type Part = SafeHtml | string | number | boolean | null | undefined | readonly Part[];

const render = (v: Part): string => (v instanceof SafeHtml ? v.text : Array.isArray(v) ? v.map(render).join('') : v === null || v === undefined || v === false ? '' : esc(v));

export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => { out += render(v) + strings[i + 1]!; });
  return new SafeHtml(out);
}

/** A constant fragment written in this codebase (never data). */
export const raw = (text: string): SafeHtml => new SafeHtml(text);

/**
 * Data for the page's scripts, inside `<script type="application/json">`: JSON with `<`, `>`, `&`
 * and the two line separators escaped, so no value can close the script element or start a comment.
 */
export function jsonScript(id: string, data: unknown): SafeHtml {
  const json = JSON.stringify(data).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return new SafeHtml(`<script type="application/json" id="${esc(id)}">${json}</script>`);
}

/** A path segment (day, merchant id) in a link. */
export const seg = (v: string): string => encodeURIComponent(v);
