/**
 * Resuming a ringing call after a takeover (issue 5), through drachtio-srf's public `srf.request()` only.
 *
 * Both setup transactions of a ringing call lived in the dead active. Our engine (unknownDialogPolicy
 * 'app') can re-create them from the mirror without sending anything:
 * - the caller's INVITE server transaction: a control request carrying X-Dualsip-Resume-Uas (the INVITE's
 *   essentials, base64url JSON) makes the engine hand us the INVITE again, marked X-Dualsip-Resumed, and
 *   answer the control request 200 with `X-Dualsip-Resume: ok`;
 * - our INVITE client transaction toward the callee: an INVITE with X-Dualsip-Resume: <original branch>
 *   and the original Call-ID, From tag and CSeq, so the callee's late 18x/200 (and its retransmissions)
 *   match it.
 * A stock drachtio-server knows neither header: the control request (OPTIONS to the server's own
 * address) comes back to us as an OPTIONS and is answered 200 without `X-Dualsip-Resume: ok`, so we never
 * send the resumed INVITE there (the callee would see a merged request, RFC 3261 §8.2.2.2, and answer 482)
 * and the call is released as before.
 */
import type { CallRecord, LegRecord } from '../records/call-record.js';
import type { SipMessageLike } from '../srf-surface.js';
import { header } from './in-dialog.js';

export const RESUME_UAC = 'X-Dualsip-Resume';
export const RESUME_UAS = 'X-Dualsip-Resume-Uas';
export const RESUME_MARK = 'X-Dualsip-Resumed';

function angle(uri: string): string {
  return uri.includes('<') ? uri : `<${uri}>`;
}

/** Whether the mirror holds what resuming both setup transactions needs. */
export function canResume(rec: CallRecord): boolean {
  const a = rec.a;
  const b = rec.b;
  return !!(a.invite && a.callId && a.localTag && b.callId && b.localTag && b.inviteBranch && b.requestUri && b.localCseq > 0) &&
    a.state !== 'terminated' && b.state !== 'terminated';
}

/** The control request's X-Dualsip-Resume-Uas value (the engine's ResumeUas). */
export function resumeUasHeader(a: LegRecord): string {
  const inv = a.invite!;
  const r = {
    uri: a.requestUri,
    vias: inv.vias,
    from: inv.from,
    to: inv.to,
    toTag: a.localTag,
    callId: a.callId,
    cseq: inv.cseq,
    ...(inv.contact ? { contact: inv.contact } : {}),
    ...(inv.recordRoute ? { recordRoute: inv.recordRoute } : {}),
    ...(inv.contentType ? { contentType: inv.contentType } : {}),
    transport: inv.source.transport,
    address: inv.source.address,
    port: inv.source.port,
  };
  return Buffer.from(JSON.stringify(r), 'utf8').toString('base64url');
}

/** Where the control request goes: the address the caller's INVITE arrived on (ours). */
export function controlUri(a: LegRecord): string {
  return a.localAddress ? `sip:${a.localAddress}` : a.requestUri;
}

/**
 * The INVITE that resumes our client transaction toward the callee. RFC 3261 §17.1.3: a response matches
 * a client transaction when "the response has the same value of the branch parameter in the top Via
 * header field as the branch parameter in the top Via header field of the request that created the
 * transaction" and the same CSeq method — so the branch, Call-ID, From tag and CSeq are the original ones.
 */
export function resumeUacHeaders(b: LegRecord): Record<string, string> {
  const h: Record<string, string> = {
    'Call-ID': b.callId,
    From: `${angle(b.localUri)};tag=${b.localTag}`,
    To: angle(b.remoteUri || b.requestUri),
    CSeq: `${b.localCseq} INVITE`,
    [RESUME_UAC]: b.inviteBranch!,
  };
  if (b.localContact) h['Contact'] = b.localContact;
  if (b.localSdp) h['Content-Type'] = 'application/sdp';
  return h;
}

/** True when the engine confirmed the resume (a stock server's own OPTIONS answer lacks the header). */
export function resumeConfirmed(res: SipMessageLike & { status: number }): boolean {
  return res.status === 200 && (header(res, RESUME_UAC) ?? '').trim().toLowerCase() === 'ok';
}
