/**
 * The simulator's replies as the agent's RemoteVectorEnv reads them: a binary frame or a JSON
 * message becomes the reply a waiting call needs, an error for that call, a connection-level
 * error report, or a rejection (malformed, unexpected, for no pending call). Peer text is escaped
 * (sanitizePeerText) on the way. `shapeProblem` checks a reply's sizes against the env's.
 */
import type { RawData } from 'ws';
import type { VectorStepResult } from '../core/env.ts';
import { NumericError } from '../core/errors.ts';
import { sanitizePeerText } from '../core/sanitize.ts';
import type { CallKind } from './pendingCalls.ts';
import { decodeFrame, floatsFromJson, parseSimMessage } from './protocol.ts';

/** A reply reduced to what the waiting call needs. */
export type Reply = { type: 'ok' } | { type: 'obs'; obs: Float32Array } | { type: 'step_result'; result: VectorStepResult };

export type Decoded =
  | { id: number; value: Reply }
  /** An error for the call `id`; `count`: also a rejected message (malformed, not an `error` reply). */
  | { id: number; error: Error; count: boolean }
  /** An `error` without id: about the connection, kept for the close message. */
  | { remoteError: { code: string; message: string } }
  | { rejected: true };

export interface DecodeContext {
  maxBytes: number;
  /** Binary frames were agreed in the handshake. */
  binary: boolean;
  /** Who sent it, for messages. */
  label: string;
  /** The kind of the pending call `id`, or undefined. */
  kindOf: (id: number) => CallKind | undefined;
}

export function decodeReply(data: RawData, isBinary: boolean, c: DecodeContext): Decoded {
  return isBinary ? readFrame(data as Buffer, c) : readText(data.toString(), c);
}

function readFrame(data: Buffer, c: DecodeContext): Decoded {
  const f = decodeFrame(data, c.maxBytes);
  if (!f.ok || !c.binary || f.frame.kind === 'step') {
    const reason = !f.ok ? f.reason : !c.binary ? 'binary frame, but binary frames were not agreed in the handshake' : 'a step frame goes from agent to simulator';
    const id = f.ok ? f.frame.id : f.id;
    if (id !== undefined && c.kindOf(id) !== undefined) return { id, error: new Error(`invalid binary reply #${id} from ${c.label}: ${reason}`), count: true };
    return { rejected: true };
  }
  const fr = f.frame;
  if (fr.kind === 'obs') return { id: fr.id, value: { type: 'obs', obs: fr.obs } };
  return { id: fr.id, value: { type: 'step_result', result: { obs: fr.obs, reward: fr.reward, terminated: fr.terminated, truncated: fr.truncated } } };
}

function readText(text: string, c: DecodeContext): Decoded {
  const r = parseSimMessage(text, c.maxBytes);
  if (!r.ok) {
    if (r.id !== undefined && c.kindOf(r.id) !== undefined) return { id: r.id, error: new Error(`invalid reply #${r.id} from ${c.label}: ${r.reason}`), count: true };
    return { rejected: true };
  }
  const m = r.msg;
  switch (m.type) {
    case 'hello':
    case 'auth':
      return { rejected: true }; // a second hello or proof: the handshake is over
    case 'error': {
      if (m.id === undefined) return { remoteError: { code: sanitizePeerText(m.code, 64), message: sanitizePeerText(m.message, 4096) } };
      const what = `${c.kindOf(m.id) ?? 'request'} #${m.id}: ${c.label} answered error [${sanitizePeerText(m.code, 64)}]: ${sanitizePeerText(m.message, 1_000)}`;
      return { id: m.id, error: m.code === 'numeric' ? new NumericError(what) : new Error(what), count: false };
    }
    case 'ok':
      return { id: m.id, value: { type: 'ok' } };
    case 'obs':
      return { id: m.id, value: { type: 'obs', obs: floatsFromJson(m.obs) } };
    case 'step_result':
      return {
        id: m.id,
        value: { type: 'step_result', result: { obs: floatsFromJson(m.obs), reward: floatsFromJson(m.reward), terminated: Uint8Array.from(m.terminated, Number), truncated: Uint8Array.from(m.truncated, Number) } },
      };
  }
}

/** A reply's sizes against the env's: obs n × obsDim, rewards and flags n. */
export function shapeProblem(r: Reply, num: number, obsDim: number): string | null {
  const nObs = num * obsDim;
  if (r.type === 'obs' && r.obs.length !== nObs) return `obs has ${r.obs.length} entries, expected ${nObs}`;
  if (r.type !== 'step_result') return null;
  const { obs, reward, terminated, truncated } = r.result;
  if (obs.length !== nObs) return `obs has ${obs.length} entries, expected ${nObs}`;
  if (reward.length !== num || terminated.length !== num || truncated.length !== num) {
    return `reward/terminated/truncated have ${reward.length}/${terminated.length}/${truncated.length} entries, expected ${num}`;
  }
  return null;
}
