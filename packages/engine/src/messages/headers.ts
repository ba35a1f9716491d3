import type { Header, SipMessage } from './types.js';

/** Compact forms (RFC 3261 §7.3.3, §20 and later RFCs) to their long names. */
const COMPACT: Record<string, string> = {
  a: 'Accept-Contact',
  b: 'Referred-By',
  c: 'Content-Type',
  d: 'Request-Disposition',
  e: 'Content-Encoding',
  f: 'From',
  i: 'Call-ID',
  j: 'Reject-Contact',
  k: 'Supported',
  l: 'Content-Length',
  m: 'Contact',
  o: 'Event',
  r: 'Refer-To',
  s: 'Subject',
  t: 'To',
  u: 'Allow-Events',
  v: 'Via',
  x: 'Session-Expires',
  y: 'Identity',
};

const LONG = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
  'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition',
  'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Diversion',
  'Error-Info', 'Event', 'Expires', 'From', 'Identity', 'In-Reply-To', 'Max-Forwards', 'Min-Expires', 'Min-SE',
  'MIME-Version', 'Organization', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Path', 'Priority', 'Privacy',
  'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason', 'Record-Route', 'Refer-To',
  'Referred-By', 'Reject-Contact', 'Replaces', 'Reply-To', 'Request-Disposition', 'Require', 'Retry-After', 'Route',
  'RSeq', 'Server', 'Service-Route', 'Session-Expires', 'SIP-ETag', 'SIP-If-Match', 'Subject', 'Subscription-State',
  'Supported', 'Timestamp', 'To', 'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
];

const CANON = new Map<string, string>();
for (const n of LONG) CANON.set(n.toLowerCase(), n);
for (const [k, v] of Object.entries(COMPACT)) CANON.set(k, v);

/** Headers whose comma-separated values are split into one entry each (§7.3.1). */
export const MULTI_VALUE = new Set(['Via', 'Route', 'Record-Route', 'Contact']);

/**
 * The stored name for a header: canonical long form for known and compact names,
 * otherwise the name as written.
 */
export function canonicalName(name: string): string {
  return CANON.get(name.toLowerCase()) ?? name;
}

function matcher(name: string): (h: Header) => boolean {
  const canon = canonicalName(name);
  const lower = canon.toLowerCase();
  const len = canon.length;
  return (h) => h.name === canon || (h.name.length === len && h.name.toLowerCase() === lower);
}

/** First value of a header (case-insensitive, compact forms accepted). */
export function getHeader(msg: SipMessage, name: string): string | undefined {
  const canon = canonicalName(name);
  const hs = msg.headers;
  // Fast path: parser-produced names are canonical, so an exact compare usually hits.
  for (let i = 0; i < hs.length; i++) if (hs[i]!.name === canon) return hs[i]!.value;
  const m = matcher(name);
  for (let i = 0; i < hs.length; i++) if (m(hs[i]!)) return hs[i]!.value;
  return undefined;
}

/** Every value of a header, in order. */
export function getHeaders(msg: SipMessage, name: string): string[] {
  const m = matcher(name);
  const out: string[] = [];
  for (const h of msg.headers) if (m(h)) out.push(h.value);
  return out;
}

/** Replaces every header of that name by one with `value` (at the first one's position, else appended). */
export function setHeader(msg: SipMessage, name: string, value: string): void {
  const m = matcher(name);
  const canon = canonicalName(name);
  const hs = msg.headers;
  let at = -1;
  for (let i = hs.length - 1; i >= 0; i--) {
    if (m(hs[i]!)) {
      if (at !== -1) hs.splice(at, 1);
      at = i;
    }
  }
  if (at === -1) hs.push({ name: canon, value });
  else hs[at] = { name: canon, value };
}

/** Inserts a header value before every existing one of that name (e.g. a new top Via). */
export function prependHeader(msg: SipMessage, name: string, value: string): void {
  const m = matcher(name);
  const canon = canonicalName(name);
  const hs = msg.headers;
  const i = hs.findIndex(m);
  // A header with no existing instance goes to the top: it is usually a Via or Route.
  hs.splice(i === -1 ? 0 : i, 0, { name: canon, value });
}

/** Appends a header value after everything else. */
export function appendHeader(msg: SipMessage, name: string, value: string): void {
  msg.headers.push({ name: canonicalName(name), value });
}

/** Removes every header of that name. */
export function removeHeader(msg: SipMessage, name: string): void {
  const m = matcher(name);
  msg.headers = msg.headers.filter((h) => !m(h));
}

/** Removes the first header of that name (e.g. pops the top Via). */
export function removeFirstHeader(msg: SipMessage, name: string): void {
  const m = matcher(name);
  const i = msg.headers.findIndex(m);
  if (i !== -1) msg.headers.splice(i, 1);
}

/**
 * Splits a header value at top-level commas, ignoring commas inside quoted strings
 * and <...> (RFC 3261 §7.3.1). Returns trimmed non-empty parts.
 */
export function splitCommaValues(value: string): string[] {
  if (value.indexOf(',') === -1) return [value];
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inQuote = false;
    } else if (c === 34) inQuote = true;
    else if (c === 60 /* < */) inAngle = true;
    else if (c === 62 /* > */) inAngle = false;
    else if (c === 44 /* , */ && !inAngle) {
      const part = value.slice(start, i).trim();
      if (part) out.push(part);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last) out.push(last);
  return out;
}
