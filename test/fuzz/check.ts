/**
 * The properties every fuzz case must keep, shared by the unit and the wire suites.
 */
import {
  createResponse,
  parseMessage,
  serializeMessage,
  SipParseError,
  StreamFramer,
  wireBytes,
  type SipMessage,
} from '../../packages/engine/src/messages/index.js';
import { Rng } from './prng.js';

export type Outcome = { kind: 'accepted'; msg: SipMessage } | { kind: 'answer'; status: number; code: string } | { kind: 'drop'; code: string };

function describeMsg(m: SipMessage): string {
  return m.kind === 'request' ? `${m.method} ${m.uri}` : `${m.status} ${m.reason}`;
}

function sameMessage(a: SipMessage, b: SipMessage): string | undefined {
  if (a.kind !== b.kind) return `kind ${a.kind} != ${b.kind}`;
  if (a.kind === 'request' && b.kind === 'request' && (a.method !== b.method || a.uri !== b.uri)) return `start line ${describeMsg(a)} != ${describeMsg(b)}`;
  if (a.kind === 'response' && b.kind === 'response' && (a.status !== b.status || a.reason !== b.reason)) return `start line ${describeMsg(a)} != ${describeMsg(b)}`;
  if (!a.body.equals(b.body)) return `body of ${a.body.length} bytes != ${b.body.length} bytes`;
  // Content-Length is rewritten from the body by the serializer (one header, however many came in).
  const ha = a.headers.filter((h) => h.name !== 'Content-Length');
  const hb = b.headers.filter((h) => h.name !== 'Content-Length');
  if (ha.length !== hb.length) return `${ha.length} headers != ${hb.length}`;
  for (let i = 0; i < ha.length; i++) {
    if (ha[i]!.name !== hb[i]!.name || ha[i]!.value !== hb[i]!.value) {
      return `header ${i}: ${JSON.stringify(ha[i]).slice(0, 120)} != ${JSON.stringify(hb[i]).slice(0, 120)}`;
    }
  }
  return undefined;
}

/**
 * Parses `bytes` and checks: only SipParseError is thrown; a status comes with the request to answer and
 * our answer is itself valid SIP; an accepted message survives parse → serialize → parse unchanged and
 * serializes to the same bytes again (a fixpoint after one round). Returns the outcome, or throws an
 * Error describing the violated property.
 */
export function checkParse(bytes: Buffer, maxSize?: number): Outcome {
  let msg: SipMessage;
  try {
    msg = parseMessage(bytes, maxSize === undefined ? undefined : { maxSize });
  } catch (e) {
    if (!(e instanceof SipParseError)) throw new Error(`parseMessage threw ${(e as Error)?.name}: ${(e as Error)?.message} (not a SipParseError)`);
    if (typeof e.code !== 'string' || e.code.length === 0) throw new Error(`SipParseError without a code: ${e.message}`);
    if (e.status === undefined) {
      if (e.request !== undefined) throw new Error(`SipParseError ${e.code} has a request but no status`);
      return { kind: 'drop', code: e.code };
    }
    if (!Number.isInteger(e.status) || e.status < 400 || e.status > 699) throw new Error(`SipParseError ${e.code} with status ${e.status}`);
    if (!e.request || e.request.kind !== 'request') throw new Error(`SipParseError ${e.code} status ${e.status} without the request to answer`);
    if (e.request.method === 'ACK') throw new Error(`SipParseError ${e.code} asks to answer an ACK (§17: an ACK is never answered)`);
    // The engine answers with createResponse(e.request, status): that answer must be valid SIP itself.
    const res = createResponse(e.request, e.status);
    const out = serializeMessage(res);
    let back: SipMessage;
    try {
      // (size aside: an answer that would exceed the limit is the engine's to drop, see Engine.answerMalformed)
      back = parseMessage(out, { maxSize: Infinity });
    } catch (e2) {
      throw new Error(`our ${e.status} answer to a ${e.code} request does not parse: ${(e2 as Error).message}\n${out.toString('latin1').slice(0, 600)}`);
    }
    if (back.kind !== 'response' || back.status !== e.status) throw new Error(`our answer parsed as ${describeMsg(back)}`);
    return { kind: 'answer', status: e.status, code: e.code };
  }
  const s1 = serializeMessage(msg);
  let m2: SipMessage;
  try {
    // Without the size limit: compact names expand and Content-Length is added, so a message just under
    // the limit may serialize just over it.
    m2 = parseMessage(s1, { maxSize: Infinity });
  } catch (e) {
    throw new Error(`accepted message does not parse after serialize: ${(e as Error).message}\n${s1.toString('latin1').slice(0, 600)}`);
  }
  const diff = sameMessage(msg, m2);
  if (diff) throw new Error(`parse → serialize → parse changed the message: ${diff}`);
  const s2 = serializeMessage(m2);
  if (!s1.equals(s2)) throw new Error(`serialize is not stable: ${s1.length} bytes then ${s2.length} bytes`);
  // What a relay of the unchanged message sends (the received bytes) must parse to the same message too.
  const w = wireBytes(msg);
  let m3: SipMessage;
  try {
    m3 = parseMessage(w, { maxSize: Infinity });
  } catch (e) {
    throw new Error(`the received bytes wireBytes() relays do not parse: ${(e as Error).message}`);
  }
  const diff3 = sameMessage(msg, m3);
  if (diff3) throw new Error(`wireBytes() relays a different message: ${diff3}`);
  return { kind: 'accepted', msg };
}

/**
 * Feeds `bytes` to a StreamFramer in random chunks and in one piece: only SipParseError may be thrown, both ways
 * must cut the same messages (framing does not depend on how TCP segments the stream), and every frame must pass
 * checkParse. Returns the frames and whether the stream was rejected.
 */
export function checkFraming(bytes: Buffer, r: Rng, maxSize?: number): { frames: number; rejected?: string } {
  const run = (chunks: Buffer[]) => {
    const framer = new StreamFramer(maxSize === undefined ? {} : { maxSize });
    const frames: Buffer[] = [];
    let rejected: string | undefined;
    for (const c of chunks) {
      try {
        frames.push(...framer.push(c));
      } catch (e) {
        if (!(e instanceof SipParseError)) throw new Error(`StreamFramer threw ${(e as Error)?.name}: ${(e as Error)?.message} (not a SipParseError)`);
        rejected = e.code;
        break;
      }
    }
    return { frames, rejected };
  };
  const whole = run([bytes]);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = r.chance(0.3) ? 1 : r.range(1, 700);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  const pieces = run(chunks);
  // A stream the framer rejects may yield fewer frames in one piece than in chunks only when the limit
  // check sees more at once; the frames both ways produced must agree up to the shorter list.
  const n = Math.min(whole.frames.length, pieces.frames.length);
  for (let i = 0; i < n; i++) {
    if (!whole.frames[i]!.equals(pieces.frames[i]!)) throw new Error(`frame ${i} differs between one push and ${chunks.length} chunks`);
  }
  if (!whole.rejected && !pieces.rejected && whole.frames.length !== pieces.frames.length) {
    throw new Error(`one push cut ${whole.frames.length} frames, ${chunks.length} chunks cut ${pieces.frames.length}`);
  }
  if ((whole.rejected === undefined) !== (pieces.rejected === undefined)) {
    throw new Error(`one push ${whole.rejected ? 'rejected (' + whole.rejected + ')' : 'accepted'} the stream, chunks ${pieces.rejected ? 'rejected (' + pieces.rejected + ')' : 'accepted'} it`);
  }
  for (const f of whole.frames) checkParse(f, maxSize);
  return { frames: whole.frames.length, ...(whole.rejected ? { rejected: whole.rejected } : {}) };
}
