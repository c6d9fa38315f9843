import { describe, expect, it } from 'vitest';
import { sanitizePeerText } from '../src/core/sanitize.ts';

describe('sanitizePeerText', () => {
  it('escapes terminal control sequences, line breaks and bidi overrides; caps the length', () => {
    expect(sanitizePeerText('sim\u001b[2J\u001b[31mred')).toBe('sim\\x1b[2J\\x1b[31mred');
    expect(sanitizePeerText('ok\rdone after 50 meta-batches; run folder /etc\n')).toBe('ok\\x0ddone after 50 meta-batches; run folder /etc\\x0a');
    expect(sanitizePeerText('a\u202eevil\u2028b\u009bc')).toBe('a\\u202eevil\\u2028b\\x9bc');
    expect(sanitizePeerText('navigation×20 — fine')).toBe('navigation×20 — fine');
    expect(sanitizePeerText('x'.repeat(500), 10)).toBe(`${'x'.repeat(10)}…`);
  });
});
