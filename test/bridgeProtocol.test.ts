/** metarl-bridge/1 codec: binary frames and JSON round trips (bit-exact), and refusals with reasons. */
import { describe, expect, it } from 'vitest';
import { Box } from '../src/core/spaces.ts';
import { Rng } from '../src/core/rng.ts';
import {
  FRAME_HEADER_BYTES, boxFromJson, boxToJson, closeReason, decodeFrame, encodeObsFrame, encodeStepFrame, encodeStepResultFrame, floatsFromJson,
  parseAgentMessage, parseSimMessage,
} from '../src/bridge/protocol.ts';
import { createHmac } from 'node:crypto';
import { authProof, authProofMatches, newNonce } from '../src/bridge/auth.ts';

/** Random float32 values from random bit patterns (every exponent), optionally without NaN/Inf. */
function randomFloats(n: number, rng: Rng, finiteOnly: boolean): Float32Array {
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    do bits[i] = rng.nextU32();
    while (finiteOnly && ((bits[i] >>> 23) & 0xff) === 0xff);
  }
  return new Float32Array(bits.buffer);
}

/**
 * Bitwise equality of two float32 arrays (-0 and subnormals included); any NaN matches any NaN,
 * since a NaN's payload bits do not survive a trip through a JS number.
 */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return a.length === b.length && ua.every((x, i) => x === ub[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i])));
}

const navHello = {
  type: 'hello', protocol: 'metarl-bridge', version: 1, num: 2,
  observationSpace: { low: ['-inf', '-inf'], high: ['inf', 'inf'], shape: [2] },
  actionSpace: { low: [-0.1, -0.1], high: [0.1, 0.1], shape: [2] },
  maxEpisodeSteps: 100, tasks: { goal: { low: [-0.5, -0.5], high: [0.5, 0.5] } },
};

describe('binary frames', () => {
  it('round-trip step, obs and step_result frames bit for bit (NaN, ±Inf, -0, subnormals included)', () => {
    const rng = new Rng(1);
    for (let k = 0; k < 200; k++) {
      const n = 1 + rng.int(30);
      const dim = 1 + rng.int(25);
      const id = 1 + rng.int(0xfffffffe);
      const actions = randomFloats(n * dim, rng, false);
      const step = decodeFrame(encodeStepFrame(id, actions, n, dim));
      expect(step.ok && step.frame.kind === 'step' && step.frame.id === id && step.frame.n === n && step.frame.dim === dim && sameBits(step.frame.actions, actions)).toBe(true);
      const obs = randomFloats(n * dim, rng, false);
      const o = decodeFrame(encodeObsFrame(id, obs, n, dim));
      expect(o.ok && o.frame.kind === 'obs' && sameBits(o.frame.obs, obs)).toBe(true);
      const result = { obs, reward: randomFloats(n, rng, false), terminated: Uint8Array.from({ length: n }, () => rng.int(2)), truncated: Uint8Array.from({ length: n }, () => rng.int(2)) };
      const bytes = encodeStepResultFrame(id, result, n, dim);
      expect(bytes.length).toBe(FRAME_HEADER_BYTES + 4 * n * dim + 6 * n);
      const r = decodeFrame(bytes);
      if (!r.ok || r.frame.kind !== 'step_result') throw new Error('step_result frame did not decode');
      expect(sameBits(r.frame.obs, obs) && sameBits(r.frame.reward, result.reward)).toBe(true);
      expect([...r.frame.terminated]).toEqual([...result.terminated]);
      expect([...r.frame.truncated]).toEqual([...result.truncated]);
    }
  });

  it('has the documented header layout', () => {
    const f = encodeStepFrame(0x01020304, new Float32Array([1.5, -2]), 1, 2);
    expect([...f.subarray(0, 16)]).toEqual([0x4d, 0x52, 0x4c, 0x42, 1, 1, 0, 0, 4, 3, 2, 1, 1, 0, 2, 0]);
    expect(new DataView(f.buffer).getFloat32(16, true)).toBe(1.5);
    expect(new DataView(f.buffer).getFloat32(20, true)).toBe(-2);
  });

  it('decodes frames inside a larger buffer (ws hands over Buffer views at any offset)', () => {
    const f = encodeObsFrame(7, new Float32Array([1, 2, 3]), 1, 3);
    const big = new Uint8Array(f.length + 5);
    big.set(f, 3);
    const r = decodeFrame(big.subarray(3, 3 + f.length));
    expect(r.ok && r.frame.kind === 'obs' && [...r.frame.obs]).toEqual([1, 2, 3]);
  });

  const good = () => encodeStepResultFrame(9, { obs: new Float32Array(4), reward: new Float32Array(2), terminated: new Uint8Array(2), truncated: new Uint8Array(2) }, 2, 2);
  const patched = (at: number, value: number) => {
    const f = good();
    f[at] = value;
    return f;
  };
  it.each([
    ['an empty frame', new Uint8Array(0), /shorter than the 16-byte header/, undefined],
    ['a frame shorter than the header', new Uint8Array(10), /shorter than the 16-byte header/, undefined],
    ['a wrong magic', patched(0, 0x41), /magic/, undefined],
    ['another version', patched(4, 2), /version 2 is not 1/, 9],
    ['an unknown kind', patched(5, 9), /unknown frame kind 9/, 9],
    ['non-zero reserved bytes', patched(6, 1), /reserved/, 9],
    ['id 0', patched(8, 0), /id 0/, undefined],
    ['n = 0', patched(12, 0), /n = 0/, 9],
    ['a truncated payload', good().subarray(0, good().length - 1), /must be 44 bytes, got 43/, 9],
    ['a padded payload', Uint8Array.from([...good(), 0]), /must be 44 bytes, got 45/, 9],
    ['a flag byte of 2', patched(40, 2), /flag bytes must be 0 or 1/, 9],
  ])('refuses %s, naming why', (_what, bytes, reason, id) => {
    const r = decodeFrame(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(reason);
      expect(r.id).toBe(id);
    }
  });

  it('refuses frames over the size limit and refuses to encode inconsistent data', () => {
    expect(decodeFrame(good(), 20)).toMatchObject({ ok: false, reason: expect.stringMatching(/exceeds the limit of 20/) });
    expect(() => encodeStepFrame(1, new Float32Array(3), 2, 2)).toThrow(/actions has 3 entries, expected 4/);
    expect(() => encodeStepFrame(0, new Float32Array(4), 2, 2)).toThrow(/id/);
    expect(() => encodeStepFrame(1, new Float32Array(0), 0, 2)).toThrow(/n must be/);
    expect(() => encodeStepFrame(1, new Float32Array(70000), 1, 70000)).toThrow(/dim must be/);
  });
});

describe('JSON messages', () => {
  it('carry float32 data exactly: float32 → JSON → float32 is the identity for every finite value', () => {
    const xs = randomFloats(100_000, new Rng(2), true);
    const back = floatsFromJson(JSON.parse(JSON.stringify(Array.from(xs))));
    expect(sameBits(back, xs)).toBe(true);
    // NaN and ±Infinity become null on the wire and NaN on arrival (the agent then raises a NumericError).
    expect(Array.from(floatsFromJson(JSON.parse(JSON.stringify(Array.from(new Float32Array([NaN, Infinity, 1]))))))).toEqual([NaN, NaN, 1]);
  });

  it('accept valid messages of both directions', () => {
    expect(parseSimMessage(JSON.stringify(navHello))).toMatchObject({ ok: true, msg: { type: 'hello', num: 2 } });
    expect(parseSimMessage('{"type":"step_result","id":4,"obs":[1,null],"reward":[0.5],"terminated":[false],"truncated":[true]}').ok).toBe(true);
    expect(parseSimMessage('{"type":"error","code":"bad_state","message":"m"}').ok).toBe(true);
    expect(parseAgentMessage('{"type":"welcome","protocol":"metarl-bridge","version":1,"binary":true}').ok).toBe(true);
    expect(parseAgentMessage('{"type":"reset","id":1,"seed":-5}').ok).toBe(true);
    expect(parseAgentMessage('{"type":"step","id":4294967295,"actions":[0.1,-0.1]}').ok).toBe(true);
  });

  it.each([
    ['{"type":"step","id":1,"actions":[1,2]', 'bad_json', /not JSON/, undefined],
    ['NaN', 'bad_json', /not JSON/, undefined],
    ['[1,2]', 'bad_message', /expected a JSON object, got an array/, undefined],
    ['null', 'bad_message', /got null/, undefined],
    ['{"id":3}', 'unknown_type', /unknown message type undefined from the agent; expected one of welcome/, 3],
    ['{"type":"fly","id":3}', 'unknown_type', /unknown message type 'fly'/, 3],
    ['{"type":"hello","id":3}', 'unknown_type', /'hello'/, 3],
    ['{"type":"step","id":3,"actions":"fast"}', 'bad_message', /step\.actions: .*expected array/, 3],
    ['{"type":"step","id":3,"actions":[1,"x"]}', 'bad_message', /step\.actions\.1/, 3],
    ['{"type":"step","id":3,"actions":[1e400]}', 'bad_message', /step\.actions\.0: .*Infinity/, 3],
    ['{"type":"step","id":3,"actions":[null]}', 'bad_message', /step\.actions\.0/, 3],
    ['{"type":"step","id":1.5,"actions":[1]}', 'bad_message', /step\.id/, undefined],
    ['{"type":"step","id":0,"actions":[1]}', 'bad_message', /step\.id/, undefined],
    ['{"type":"step","id":1e400,"actions":[1]}', 'bad_message', /step\.id/, undefined],
    ['{"type":"step","id":4294967296,"actions":[1]}', 'bad_message', /step\.id/, undefined],
    ['{"type":"reset","id":2,"seed":0.5}', 'bad_message', /reset\.seed/, 2],
    ['{"type":"set_tasks","id":2,"tasks":[]}', 'bad_message', /set_tasks\.tasks/, 2],
    ['{"type":"welcome","protocol":"metarl-bridge","version":2,"binary":true}', 'bad_message', /welcome\.version/, undefined],
  ])('agent message %s is refused (%s)', (text, code, reason, id) => {
    const r = parseAgentMessage(text);
    expect(r).toMatchObject({ ok: false, code });
    if (!r.ok) {
      expect(r.reason).toMatch(reason);
      expect(r.id).toBe(id);
    }
  });

  it.each([
    [{ ...navHello, num: 0 }, /hello\.num/],
    [{ ...navHello, num: '2' }, /hello\.num/],
    [{ ...navHello, protocol: 'other' }, /hello\.protocol/],
    [{ ...navHello, observationSpace: { low: [-1], high: [1] } }, /hello\.observationSpace\.shape/],
    [{ ...navHello, actionSpace: { ...navHello.actionSpace, low: ['-infinity', 0] } }, /hello\.actionSpace\.low\.0/],
    [{ ...navHello, tasks: { goal: { low: 0 } } }, /hello\.tasks/],
    [{ type: 'obs', id: 1, obs: [1, 'x'] }, /obs\.obs\.1/],
    [{ type: 'step_result', id: 1, obs: [1], reward: [0], terminated: [0], truncated: [false] }, /step_result\.terminated\.0/],
  ])('simulator message %j is refused with the field named', (msg, reason) => {
    const r = parseSimMessage(JSON.stringify(msg));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('refuses text over the size limit before parsing it', () => {
    const text = JSON.stringify({ type: 'step', id: 1, actions: new Array(1000).fill(0.5) });
    expect(parseAgentMessage(text, 100)).toMatchObject({ ok: false, code: 'too_large', reason: expect.stringMatching(/exceeds the limit of 100/) });
  });
});

describe('spaces, tokens and close reasons', () => {
  it('send infinite bounds as "inf" / "-inf" and bring them back', () => {
    const box = new Box([-Infinity, -1], [Infinity, 2.5], [2]);
    const json = boxToJson(box);
    expect(json).toEqual({ low: ['-inf', -1], high: ['inf', 2.5], shape: [2] });
    const back = boxFromJson(JSON.parse(JSON.stringify(json)), 'x');
    expect([...back.low]).toEqual([-Infinity, -1]);
    expect([...back.high]).toEqual([Infinity, 2.5]);
  });

  it('refuse boxes whose sizes or bounds disagree', () => {
    expect(() => boxFromJson({ low: [0], high: [1, 2], shape: [2] }, 'hello.actionSpace')).toThrow(/hello\.actionSpace: shape \[2\] needs 2 bounds, got 1 low and 2 high/);
    expect(() => boxFromJson({ low: [2, 0], high: [1, 1], shape: [2] }, 'a')).toThrow(/low ≤ high fails at entry 0/);
    expect(() => boxFromJson({ low: ['inf'], high: ['inf'], shape: [1] }, 'a')).not.toThrow();
    expect(() => boxFromJson({ low: [0], high: [0], shape: [300, 300] }, 'a')).toThrow(/90000 entries/);
  });

  it('prove tokens by HMAC-SHA256 over both nonces and the role, never by the token itself', () => {
    const [h, w] = [newNonce(), newNonce()];
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(h).not.toBe(w);
    const proof = authProof('s3cret', 'agent', h, w);
    expect(proof).toBe(createHmac('sha256', 's3cret').update(`metarl-bridge/1 auth agent ${h} ${w}`).digest('hex'));
    expect(proof).not.toContain('s3cret');
    expect(authProofMatches('s3cret', 'agent', h, w, proof)).toBe(true);
    expect(authProofMatches('s3cre', 'agent', h, w, proof)).toBe(false);
    expect(authProofMatches('s3cret', 'simulator', h, w, proof)).toBe(false); // a proof cannot be reflected
    expect(authProofMatches('s3cret', 'agent', w, h, proof)).toBe(false);
    expect(authProofMatches('s3cret', 'agent', h, w, proof.toUpperCase())).toBe(false);
    expect(authProofMatches('s3cret', 'agent', h, w, 'zz')).toBe(false);
    // The schemas take nonces and proofs only as 64 hex digits.
    expect(parseAgentMessage(JSON.stringify({ type: 'auth', proof })).ok).toBe(true);
    expect(parseSimMessage(JSON.stringify({ type: 'auth', proof: 'x'.repeat(64) }))).toMatchObject({ ok: false, reason: expect.stringMatching(/auth\.proof/) });
  });

  it('sanitize peer text quoted in a refusal reason (type names, JSON.parse citing the text)', () => {
    const r = parseSimMessage('{"type":"\\u001b[2Jx","id":3}'); // a JSON escape: the type holds a real ESC
    expect(r).toMatchObject({ ok: false, code: 'unknown_type' });
    if (!r.ok) expect(r.reason).toContain("'\\x1b[2Jx'");
    const bad = parseSimMessage('x\u001b[31m\r not json');
    expect(bad).toMatchObject({ ok: false, code: 'bad_json' });
    if (!bad.ok) expect(bad.reason).not.toMatch(/[\u001b\r]/);
  });

  it('keep close reasons within 123 bytes', () => {
    expect(Buffer.byteLength(closeReason('é'.repeat(200)))).toBeLessThanOrEqual(123);
    expect(closeReason('short')).toBe('short');
  });
});
