/**
 * Building and matching requests inside a dialog that only the mirrored call
 * record remembers.
 */
import type { LegRecord } from '../records/call-record.js';
import type { SipMessageLike } from '../srf-surface.js';

export type Side = 'a' | 'b';
export const otherSide = (s: Side): Side => (s === 'a' ? 'b' : 'a');

function angle(uri: string): string {
  return uri.startsWith('<') || uri.includes('<') ? uri : `<${uri}>`;
}

/**
 * RFC 3261 §12.2.1.1: "The URI in the To field of the request MUST be set to
 * the remote URI from the dialog state. The tag in the To header field of the
 * request MUST be set to the remote tag of the dialog ID. The From URI of the
 * request MUST be set to the local URI from the dialog state. The tag in the
 * From header field of the request MUST be set to the local tag of the dialog
 * ID." — and the Call-ID, CSeq and Contact we set ourselves, because the SIP
 * server never saw this dialog.
 */
export function inDialogHeaders(leg: LegRecord, method: string, cseq: number): Record<string, string> {
  const h: Record<string, string> = {
    'Call-ID': leg.callId,
    From: `${angle(leg.localUri)};tag=${leg.localTag ?? ''}`,
    To: `${angle(leg.remoteUri)};tag=${leg.remoteTag ?? ''}`,
    CSeq: `${cseq} ${method}`,
  };
  if (leg.localContact) h['Contact'] = angle(leg.localContact);
  // RFC 3261 §12.2.1.1: "If the route set is not empty, and its first URI
  // contains the lr parameter ..., the UAC MUST place the remote target URI
  // into the Request-URI and MUST include a Route header field containing the
  // route set values in order, including all parameters." (Our engine keeps
  // it; a stock drachtio-server drops Route from what the app gives.)
  if (leg.routeSet.length > 0) h['Route'] = leg.routeSet.join(', ');
  return h;
}

/** The Request-URI of a request inside the leg's dialog: the remote target (the far end's Contact). */
export function requestUriOf(leg: LegRecord): string {
  const t = leg.remoteTarget || leg.remoteUri;
  const m = /<([^>]*)>/.exec(t);
  return m ? m[1]! : t;
}

/**
 * Where a request inside the leg's dialog goes when the remote target alone would pick the wrong transport.
 * RFC 3263 §4.1: for a numeric target without a transport parameter "the client SHOULD use UDP for a SIP URI".
 * A phone or gateway that talked to the old active over TCP often puts no transport parameter in its Contact
 * (it may listen on TCP only), and the connection the old active reused died with it. RFC 3261 §18.1.1 then
 * has the UAC open a new connection; to keep the leg's transport the request goes through the target itself
 * as outbound proxy with transport=tcp (drachtio-srf's `proxy` option), so the Request-URI stays the remote
 * target (§12.2.1.1: "the UAC MUST place the remote target URI into the Request-URI"). Undefined for UDP legs,
 * when a route set decides (its first URI names the transport), or when the target names a transport.
 */
export function outboundProxyOf(leg: LegRecord, uri: string = requestUriOf(leg)): string | undefined {
  const transport = (leg.transport || 'udp').toLowerCase();
  if (transport === 'udp' || leg.routeSet.length > 0 || /;\s*transport=/i.test(uri)) return undefined;
  const m = /^sip:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d+))?/i.exec(uri.trim());
  if (!m) return undefined;
  return `sip:${m[1]}:${m[2] ?? '5060'};transport=${transport}`;
}

/** The dialog key of one leg as seen from us: Call-ID, our tag, their tag. */
export function legKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}

export function tagOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  // the tag parameter sits after the name-addr (outside <...>)
  const close = value.lastIndexOf('>');
  const params = close >= 0 ? value.slice(close + 1) : value;
  return /;\s*tag=([^;\s,]+)/i.exec(params)?.[1];
}

export function header(msg: SipMessageLike | undefined, name: string): string | undefined {
  try {
    if (!msg || !msg.has(name)) return undefined;
    return msg.get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

export function cseqOf(msg: SipMessageLike | undefined): number | undefined {
  const v = header(msg, 'CSeq');
  const n = v ? parseInt(v, 10) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** Call-ID, From tag and To tag of an incoming request (To tag undefined outside a dialog). */
export function dialogIdOf(msg: SipMessageLike): { callId: string; fromTag?: string; toTag?: string } {
  return { callId: header(msg, 'Call-ID') ?? '', fromTag: tagOf(header(msg, 'From')), toTag: tagOf(header(msg, 'To')) };
}
