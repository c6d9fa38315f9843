/**
 * Text widths from a TrueType file, for laying out charts without a canvas.
 *
 * Without the native `canvas` package Vega guesses every string to be 0.8 × fontSize per character,
 * about a third wider than DejaVu Sans really is: titles then reserve far too much room and charts
 * get wide blank margins. Reading each glyph's advance width from the font that resvg will draw
 * with (cmap format 4 → glyph id → hmtx advance) makes Vega's layout match the PNG, minus kerning.
 */

/** Advance widths of one font, in em (multiply by the font size in px). */
export interface FontWidths {
  /** Width of one code point; code points the font lacks get the .notdef glyph's width. */
  advance(codePoint: number): number;
  /** Width of a whole string at `fontSize` px. */
  measure(text: string, fontSize: number): number;
}

/** Parses the tables of a TrueType font that hold horizontal advances (head, hhea, hmtx, cmap). */
export function readFontWidths(font: Uint8Array): FontWidths {
  const view = new DataView(font.buffer, font.byteOffset, font.byteLength);
  const tables = new Map<string, number>();
  const numTables = view.getUint16(4);
  for (let t = 0; t < numTables; t++) {
    const record = 12 + 16 * t;
    const tag = String.fromCharCode(font[record], font[record + 1], font[record + 2], font[record + 3]);
    tables.set(tag, view.getUint32(record + 8));
  }
  const table = (tag: string): number => {
    const offset = tables.get(tag);
    if (offset === undefined) throw new Error(`font has no '${tag}' table; expected a TrueType font`);
    return offset;
  };
  const unitsPerEm = view.getUint16(table('head') + 18);
  const numberOfHMetrics = view.getUint16(table('hhea') + 34);
  const hmtx = table('hmtx');
  // Glyphs past numberOfHMetrics share the last advance (monospaced tails).
  const glyphAdvance = (glyph: number): number => view.getUint16(hmtx + 4 * Math.min(glyph, numberOfHMetrics - 1)) / unitsPerEm;
  const glyphOf = cmapFormat4(view, table('cmap'));

  const cache = new Map<number, number>();
  const advance = (codePoint: number): number => {
    let width = cache.get(codePoint);
    if (width === undefined) {
      width = glyphAdvance(codePoint > 0xffff ? 0 : glyphOf(codePoint));
      cache.set(codePoint, width);
    }
    return width;
  };
  return {
    advance,
    measure(text, fontSize) {
      let em = 0;
      for (const ch of text) em += advance(ch.codePointAt(0) ?? 0);
      return em * fontSize;
    },
  };
}

/** Finds the Unicode BMP subtable (format 4) and returns code point → glyph id (0 if absent). */
function cmapFormat4(view: DataView, cmap: number): (codePoint: number) => number {
  const count = view.getUint16(cmap + 2);
  let subtable = -1;
  for (let r = 0; r < count; r++) {
    const platform = view.getUint16(cmap + 4 + 8 * r);
    const encoding = view.getUint16(cmap + 6 + 8 * r);
    const offset = cmap + view.getUint32(cmap + 8 + 8 * r);
    // Windows Unicode BMP (3, 1) or any Unicode-platform (0, *) subtable, as long as it is format 4.
    if ((platform === 3 && encoding === 1) || platform === 0) {
      if (view.getUint16(offset) === 4) {
        subtable = offset;
        break;
      }
    }
  }
  if (subtable < 0) throw new Error('font has no Unicode BMP (format 4) cmap subtable');
  const segCount = view.getUint16(subtable + 6) / 2;
  const endCodes = subtable + 14;
  const startCodes = endCodes + 2 * segCount + 2; // +2 skips reservedPad
  const idDeltas = startCodes + 2 * segCount;
  const idRangeOffsets = idDeltas + 2 * segCount;
  return (c) => {
    for (let s = 0; s < segCount; s++) {
      if (view.getUint16(endCodes + 2 * s) < c) continue;
      const start = view.getUint16(startCodes + 2 * s);
      if (start > c) return 0;
      const delta = view.getInt16(idDeltas + 2 * s);
      const rangeOffset = view.getUint16(idRangeOffsets + 2 * s);
      if (rangeOffset === 0) return (c + delta) & 0xffff;
      // idRangeOffset counts bytes from its own position into glyphIdArray.
      const glyph = view.getUint16(idRangeOffsets + 2 * s + rangeOffset + 2 * (c - start));
      return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
    }
    return 0;
  };
}
