/**
 * Token authentication of `metarl-bridge/1` without sending the token (docs/bridge-protocol.md
 * §2): each side that has a token puts a fresh random nonce in its hello / welcome, and each side
 * proves it knows the token with HMAC-SHA256(token, "metarl-bridge/1 auth <role> <hello nonce>
 * <welcome nonce>"). The side that dialled proves first; the listening side proves only to a peer
 * that already proved, so whoever connects to a listener learns nothing derived from its token.
 * The role in the proof keeps one side's proof from being reflected back as the other's.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type AuthRole = 'agent' | 'simulator';

/** Bytes of randomness in a nonce (sent as 64 lowercase hex characters). */
export const NONCE_BYTES = 32;
/** Hex digits of a nonce and of a proof (an HMAC-SHA256 is 32 bytes as well). */
export const HEX64 = /^[0-9a-f]{64}$/;

/** A fresh challenge for one connection. */
export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

/** What `role` sends to prove it knows `token` on the connection with these two nonces. */
export function authProof(token: string, role: AuthRole, helloNonce: string, welcomeNonce: string): string {
  return createHmac('sha256', token).update(`metarl-bridge/1 auth ${role} ${helloNonce} ${welcomeNonce}`).digest('hex');
}

/** Whether `presented` is `role`'s proof for `token`; constant-time in the proof's content. */
export function authProofMatches(token: string, role: AuthRole, helloNonce: string, welcomeNonce: string, presented: string): boolean {
  if (!HEX64.test(presented)) return false;
  const expected = Buffer.from(authProof(token, role, helloNonce, welcomeNonce), 'hex');
  return timingSafeEqual(expected, Buffer.from(presented, 'hex'));
}
