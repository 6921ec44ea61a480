/**
 * A small XML writer for the feed renderers. It exists because xmlbuilder2 leaves `&` unescaped when
 * it is followed by an entity name (`&amp;`, `&lt;`…), which drops one level of escaping and turned
 * escaped HTML into live markup in readers. Here every text and attribute value is escaped in full,
 * always, with no guessing about what is "already escaped".
 */

// XML 1.0 forbids most C0 controls, U+FFFE/U+FFFF and unpaired surrogates; upstream text does contain them.
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Drops the characters XML 1.0 cannot carry (they cannot be escaped either). */
export function xmlSafe(s: string): string {
  return s.replace(XML_INVALID, '');
}

// \r would be folded into \n by every parser's line-end normalisation; tabs and newlines in attributes
// would be folded into spaces. Character references survive both.
const TEXT_CHARS = /[&<>\r]/g;
const ATTR_CHARS = /[&<>"\t\n\r]/g;
const REFS: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };
const ref = (c: string) => REFS[c]!;

export const escapeXmlText = (s: string) => xmlSafe(s).replace(TEXT_CHARS, ref);
export const escapeXmlAttr = (s: string) => xmlSafe(s).replace(ATTR_CHARS, ref);

export type Attrs = Record<string, string | number | undefined>;

function attrs(a: Attrs | undefined): string {
  let s = '';
  if (a) for (const k in a) if (a[k] !== undefined) s += ` ${k}="${escapeXmlAttr(String(a[k]))}"`;
  return s;
}

/** Builds a document as one string; names are trusted (they are literals in the renderers), values never are. */
export class XmlWriter {
  private out = '<?xml version="1.0" encoding="UTF-8"?>';

  open(name: string, a?: Attrs): this {
    this.out += `<${name}${attrs(a)}>`;
    return this;
  }

  close(name: string): this {
    this.out += `</${name}>`;
    return this;
  }

  /** `<name>text</name>`; nothing when text is undefined. */
  leaf(name: string, text: string | number | undefined, a?: Attrs): this {
    if (text !== undefined) this.out += `<${name}${attrs(a)}>${escapeXmlText(String(text))}</${name}>`;
    return this;
  }

  empty(name: string, a: Attrs): this {
    this.out += `<${name}${attrs(a)}/>`;
    return this;
  }

  toString(): string {
    return this.out;
  }
}
