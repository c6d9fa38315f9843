/**
 * Text from a peer (a simulator's name or error message, a robot's rejection reason) before it
 * reaches a terminal or a log: control characters — escape sequences that recolour, move the
 * cursor or rewrite a line, carriage returns that overwrite "done … run folder …" — are shown
 * escaped (`\x1b`, `\r`, `\u2028`), and the length is capped.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with control and bidi-override characters escaped, cut to `max` characters (…). */
export function sanitizePeerText(text: unknown, max = 300): string {
  const s = String(text).replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
