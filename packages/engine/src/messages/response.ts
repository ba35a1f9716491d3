import { getHeader, getHeaders } from './headers.js';
import { newTag } from './ids.js';
import type { Header, SipRequest, SipResponse } from './types.js';

const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK', 202: 'Accepted', 204: 'No Notification',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 305: 'Use Proxy', 380: 'Alternative Service',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  410: 'Gone', 412: 'Conditional Request Failed', 413: 'Request Entity Too Large', 414: 'Request-URI Too Long',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 417: 'Unknown Resource-Priority', 420: 'Bad Extension',
  421: 'Extension Required', 422: 'Session Interval Too Small', 423: 'Interval Too Brief', 428: 'Use Identity Header',
  429: 'Provide Referrer Identity', 433: 'Anonymity Disallowed', 436: 'Bad Identity-Info', 437: 'Unsupported Certificate',
  438: 'Invalid Identity Header', 439: 'First Hop Lacks Outbound Support', 440: 'Max-Breadth Exceeded',
  469: 'Bad Info Package', 470: 'Consent Needed', 480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete',
  485: 'Ambiguous', 486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here', 489: 'Bad Event',
  491: 'Request Pending', 493: 'Undecipherable', 494: 'Security Agreement Required',
  500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large', 555: 'Push Notification Service Not Supported',
  580: 'Precondition Failure',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable', 607: 'Unwanted',
  608: 'Rejected',
};

/** The standard reason phrase for a status, or a generic one for its class. */
export const reasonPhrase = (status: number): string => {
  const r = REASONS[status];
  if (r) return r;
  if (status >= 100 && status < 200) return 'Session Progress';
  if (status >= 200 && status < 300) return 'OK';
  if (status >= 300 && status < 400) return 'Redirection';
  if (status >= 400 && status < 500) return 'Client Error';
  if (status >= 500 && status < 600) return 'Server Error';
  return 'Global Failure';
};

function hasTag(to: string): boolean {
  // The tag is a header parameter: it follows the closing '>' if there is one.
  const gt = to.lastIndexOf('>');
  const params = (gt === -1 ? to : to.slice(gt + 1)).toLowerCase();
  return /;\s*tag\s*=/.test(params);
}

export interface CreateResponseOptions {
  /** To-tag to add when the request's To has none (default: a new random tag; never added to a 100). */
  toTag?: string;
}

/**
 * Builds a response to a request (RFC 3261 §8.2.6).
 * §8.2.6.2: "The From field of the response MUST equal the From header field of the request. The Call-ID header
 * field of the response MUST equal the Call-ID header field of the request. The CSeq header field of the response
 * MUST equal the CSeq field of the request. The Via header field values in the response MUST equal the Via header
 * field values in the request and MUST maintain the same ordering."
 * "If a request contained a To tag in the request, the To header field in the response MUST equal that of the
 * request. However, if the To header field in the request did not contain a tag, the URI in the To header field in
 * the response MUST equal the URI in the To header field; additionally, the UAS MUST add a tag to the To header
 * field in the response (with the exception of the 100 (Trying) response, in which a tag MAY be present)."
 * §8.2.6.1: a 100 (Trying) copies the Timestamp header field.
 */
export function createResponse(req: SipRequest, status: number, reason?: string, opts?: CreateResponseOptions): SipResponse {
  if (!Number.isInteger(status) || status < 100 || status > 699) {
    throw Object.assign(new RangeError(`createResponse: invalid status ${status}`), { code: 'ERR_INVALID_STATUS' });
  }
  const headers: Header[] = [];
  for (const v of getHeaders(req, 'Via')) headers.push({ name: 'Via', value: v });
  const from = getHeader(req, 'From');
  if (from !== undefined) headers.push({ name: 'From', value: from });
  let to = getHeader(req, 'To');
  if (to !== undefined) {
    if (status !== 100 && !hasTag(to)) to = `${to};tag=${opts?.toTag ?? newTag()}`;
    headers.push({ name: 'To', value: to });
  }
  const callId = getHeader(req, 'Call-ID');
  if (callId !== undefined) headers.push({ name: 'Call-ID', value: callId });
  const cseq = getHeader(req, 'CSeq');
  if (cseq !== undefined) headers.push({ name: 'CSeq', value: cseq });
  if (status === 100) {
    const ts = getHeader(req, 'Timestamp');
    if (ts !== undefined) headers.push({ name: 'Timestamp', value: ts });
  }
  return { kind: 'response', status, reason: reason ?? reasonPhrase(status), version: 'SIP/2.0', headers, body: Buffer.alloc(0) };
}
