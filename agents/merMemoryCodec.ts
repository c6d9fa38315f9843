/**
 * Bit-exact text encoding of typed arrays for checkpoints: little-endian bytes in base64.
 * JSON numbers would lose the sign of −0 and take about twice the space of base64 for float32.
 */

/** True on little-endian hosts (every platform Node ships for today); big-endian swaps bytes. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toBase64(a: Float32Array | Int32Array): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return Buffer.from(HOST_IS_LITTLE_ENDIAN ? bytes : swap4(bytes)).toString('base64');
}

function fromBase64(text: string, what: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`${what}: expected a base64 string, got ${typeof text}`);
  const buf = Buffer.from(text, 'base64');
  if (buf.byteLength % 4 !== 0) throw new RangeError(`${what}: ${buf.byteLength} bytes is not a whole number of 4-byte values`);
  // Copy into a fresh, aligned buffer (Buffer's pool offset need not be a multiple of 4).
  const bytes = new Uint8Array(buf.byteLength);
  bytes.set(buf);
  return HOST_IS_LITTLE_ENDIAN ? bytes : swap4(bytes);
}

function swap4(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 4) {
    out[i] = bytes[i + 3];
    out[i + 1] = bytes[i + 2];
    out[i + 2] = bytes[i + 1];
    out[i + 3] = bytes[i];
  }
  return out;
}

export const float32ToBase64 = (a: Float32Array): string => toBase64(a);
export const int32ToBase64 = (a: Int32Array): string => toBase64(a);
export const base64ToFloat32 = (text: string): Float32Array => new Float32Array(fromBase64(text, 'float32 field').buffer);
export const base64ToInt32 = (text: string): Int32Array => new Int32Array(fromBase64(text, 'int32 field').buffer);
