/**
 * On-demand parsers for the structured header values the layers need: URIs
 * (RFC 3261 §19.1), name-addr (§20.10, §20.20, §20.39), Via (§20.42) and CSeq
 * (§20.16). Each is a single left-to-right scan without regular expressions.
 */
import { SipParseError, type NameAddr, type ParsedCSeq, type ParsedUri, type ParsedVia } from './types.js';

function isTokenChar(c: number): boolean {
  // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
  return (
    (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ||
    c === 45 || c === 46 || c === 33 || c === 37 || c === 42 || c === 95 || c === 43 || c === 96 || c === 39 || c === 126
  );
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

function hasSpaceOrCtl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127) return true;
  }
  return false;
}

function badUri(s: string, why: string): SipParseError {
  return new SipParseError('BAD_URI', `invalid URI ${JSON.stringify(s.slice(0, 80))}: ${why}`, 400);
}

/** Parses "host[:port]" (IPv6 in brackets). Returns undefined when malformed. */
function parseHostPort(s: string): { host: string; port?: number } | undefined {
  if (s.length === 0) return undefined;
  let host: string;
  let rest: string;
  if (s.charCodeAt(0) === 91 /* [ */) {
    const close = s.indexOf(']');
    if (close < 3) return undefined;
    host = s.slice(0, close + 1);
    for (let i = 1; i < close; i++) {
      const c = s.charCodeAt(i);
      if (!((c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46)) return undefined;
    }
    rest = s.slice(close + 1);
  } else {
    const colon = s.indexOf(':');
    host = colon === -1 ? s : s.slice(0, colon);
    rest = colon === -1 ? '' : s.slice(colon);
    if (host.length === 0) return undefined;
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i);
      if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95)) {
        return undefined;
      }
    }
  }
  if (rest.length === 0) return { host };
  if (rest.charCodeAt(0) !== 58 || rest.length === 1 || rest.length > 6) return undefined;
  let port = 0;
  for (let i = 1; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    port = port * 10 + (c - 48);
  }
  if (port > 65535) return undefined;
  return { host, port };
}

/** ";a=b;c" into a record with lower-cased names; null for valueless params. */
function parseParams(s: string, into: Record<string, string | null>): boolean {
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && (s.charCodeAt(i) === 59 /* ; */ || s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
    if (i >= n) break;
    let j = i;
    while (j < n && s.charCodeAt(j) !== 59 && s.charCodeAt(j) !== 61 /* = */) j++;
    const name = s.slice(i, j).trim().toLowerCase();
    if (name.length === 0) return false;
    if (j < n && s.charCodeAt(j) === 61) {
      let k = j + 1;
      while (k < n && (s.charCodeAt(k) === 32 || s.charCodeAt(k) === 9)) k++;
      if (k < n && s.charCodeAt(k) === 34 /* " */) {
        // quoted-string value (header params only); keep the quotes as written
        let q = k + 1;
        while (q < n && s.charCodeAt(q) !== 34) q += s.charCodeAt(q) === 92 ? 2 : 1;
        if (q >= n) return false;
        into[name] = s.slice(k, q + 1);
        i = q + 1;
      } else {
        let e = k;
        while (e < n && s.charCodeAt(e) !== 59) e++;
        into[name] = s.slice(k, e).trim();
        i = e;
      }
    } else {
      into[name] = null;
      i = j;
    }
  }
  return true;
}

function formatParams(p: Record<string, string | null>): string {
  let out = '';
  for (const k in p) {
    const v = p[k];
    out += v === null || v === undefined ? `;${k}` : `;${k}=${v}`;
  }
  return out;
}

/**
 * Parses a sip:, sips: or tel: URI. For tel: URIs the number goes in `user` and
 * `host` is empty. Throws SipParseError BAD_URI (status 400), or
 * UNSUPPORTED_URI_SCHEME (status 416) for another well-formed scheme.
 */
export function parseUri(s: string): ParsedUri {
  if (typeof s !== 'string') throw badUri(String(s), 'not a string');
  const colon = s.indexOf(':');
  if (colon <= 0) throw badUri(s, 'no scheme');
  const schemeRaw = s.slice(0, colon);
  const scheme = schemeRaw.toLowerCase();
  if (hasSpaceOrCtl(s)) throw badUri(s, 'contains whitespace or control characters');
  if (scheme !== 'sip' && scheme !== 'sips' && scheme !== 'tel') {
    if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw badUri(s, 'bad scheme');
    throw new SipParseError('UNSUPPORTED_URI_SCHEME', `unsupported URI scheme ${schemeRaw}`, 416);
  }
  let rest = s.slice(colon + 1);
  const headers: Record<string, string> = {};
  const q = rest.indexOf('?');
  if (q !== -1) {
    for (const pair of rest.slice(q + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw badUri(s, 'bad URI header');
      headers[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    rest = rest.slice(0, q);
  }
  const params: Record<string, string | null> = {};
  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    const number = semi === -1 ? rest : rest.slice(0, semi);
    if (number.length === 0) throw badUri(s, 'empty telephone number');
    if (semi !== -1 && !parseParams(rest.slice(semi), params)) throw badUri(s, 'bad parameter');
    return { scheme, user: number, host: '', params, headers };
  }
  let user: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const pc = userinfo.indexOf(':');
    user = pc === -1 ? userinfo : userinfo.slice(0, pc);
    if (pc !== -1) password = userinfo.slice(pc + 1);
    if (user.length === 0) throw badUri(s, 'empty user part');
  }
  const semi = rest.indexOf(';');
  const hp = parseHostPort(semi === -1 ? rest : rest.slice(0, semi));
  if (!hp) throw badUri(s, 'bad host or port');
  if (semi !== -1 && !parseParams(rest.slice(semi), params)) throw badUri(s, 'bad parameter');
  const out: ParsedUri = { scheme, host: hp.host, params, headers };
  if (user !== undefined) out.user = user;
  if (password !== undefined) out.password = password;
  if (hp.port !== undefined) out.port = hp.port;
  return out;
}

export function formatUri(u: ParsedUri): string {
  let out = `${u.scheme}:`;
  if (u.scheme === 'tel') {
    out += u.user ?? u.host;
  } else {
    if (u.user !== undefined) out += u.password !== undefined ? `${u.user}:${u.password}@` : `${u.user}@`;
    out += u.host;
    if (u.port !== undefined) out += `:${u.port}`;
  }
  out += formatParams(u.params);
  const hk = Object.keys(u.headers);
  if (hk.length) out += '?' + hk.map((k) => `${k}=${u.headers[k]}`).join('&');
  return out;
}

function badHeader(kind: string, s: string, why: string): SipParseError {
  return new SipParseError(`BAD_${kind}`, `invalid ${kind.toLowerCase()} value ${JSON.stringify(s.slice(0, 80))}: ${why}`, 400);
}

/**
 * Parses a name-addr or addr-spec with header parameters, as in From, To, Contact,
 * Route, Record-Route. In the addr-spec form, ";params" after the URI are header
 * parameters (§20.10). Throws SipParseError BAD_NAME_ADDR.
 */
export function parseNameAddr(s: string): NameAddr {
  const str = s.trim();
  const n = str.length;
  if (n === 0) throw badHeader('NAME_ADDR', s, 'empty');
  let i = 0;
  let displayName: string | undefined;
  let uri: string;
  let after: string;
  if (str.charCodeAt(0) === 34 /* " */) {
    let j = 1;
    let dn = '';
    while (j < n && str.charCodeAt(j) !== 34) {
      if (str.charCodeAt(j) === 92 && j + 1 < n) j++;
      dn += str[j];
      j++;
    }
    if (j >= n) throw badHeader('NAME_ADDR', s, 'unterminated quoted display name');
    displayName = dn;
    i = j + 1;
    while (i < n && (str.charCodeAt(i) === 32 || str.charCodeAt(i) === 9)) i++;
    if (str.charCodeAt(i) !== 60 /* < */) throw badHeader('NAME_ADDR', s, 'expected < after display name');
  } else {
    const lt = str.indexOf('<');
    if (lt === -1) {
      // addr-spec: no display name, URI ends at the first ';'
      const semi = str.indexOf(';');
      uri = semi === -1 ? str : str.slice(0, semi).trimEnd();
      after = semi === -1 ? '' : str.slice(semi);
      if (uri.length === 0 || uri.indexOf(':') <= 0 || hasSpaceOrCtl(uri)) throw badHeader('NAME_ADDR', s, 'bad URI');
      const params: Record<string, string | null> = {};
      if (!parseParams(after, params)) throw badHeader('NAME_ADDR', s, 'bad parameter');
      return { uri, params };
    }
    const dn = str.slice(0, lt).trim();
    if (dn.length) displayName = dn;
    i = lt;
  }
  const gt = str.indexOf('>', i);
  if (gt === -1) throw badHeader('NAME_ADDR', s, 'missing >');
  uri = str.slice(i + 1, gt).trim();
  if (uri.length === 0 || uri.indexOf(':') <= 0 || hasSpaceOrCtl(uri)) throw badHeader('NAME_ADDR', s, 'bad URI');
  after = str.slice(gt + 1).trim();
  if (after.length && after.charCodeAt(0) !== 59) throw badHeader('NAME_ADDR', s, 'garbage after >');
  const params: Record<string, string | null> = {};
  if (!parseParams(after, params)) throw badHeader('NAME_ADDR', s, 'bad parameter');
  const out: NameAddr = { uri, params };
  if (displayName !== undefined) out.displayName = displayName;
  return out;
}

export function formatNameAddr(na: NameAddr): string {
  let out = '';
  if (na.displayName !== undefined && na.displayName !== '') {
    out += `"${na.displayName.replace(/["\\]/g, (c) => '\\' + c)}" `;
  }
  return out + `<${na.uri}>` + formatParams(na.params);
}

/** Parses one Via value "SIP/2.0/UDP host:port;branch=...". Throws SipParseError BAD_VIA. */
export function parseVia(s: string): ParsedVia {
  const str = s.trim();
  const n = str.length;
  let i = 0;
  const parts: string[] = [];
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport (LWS allowed around SLASH)
  for (let k = 0; k < 3; k++) {
    while (i < n && (str.charCodeAt(i) === 32 || str.charCodeAt(i) === 9)) i++;
    const start = i;
    while (i < n && isTokenChar(str.charCodeAt(i))) i++;
    if (i === start) throw badHeader('VIA', s, 'bad sent-protocol');
    parts.push(str.slice(start, i));
    while (i < n && (str.charCodeAt(i) === 32 || str.charCodeAt(i) === 9)) i++;
    if (k < 2) {
      if (str.charCodeAt(i) !== 47 /* / */) throw badHeader('VIA', s, 'bad sent-protocol');
      i++;
    }
  }
  if (parts[0]!.toUpperCase() !== 'SIP') throw badHeader('VIA', s, 'protocol is not SIP');
  const start = i;
  while (i < n && str.charCodeAt(i) !== 59 && str.charCodeAt(i) !== 32 && str.charCodeAt(i) !== 9) i++;
  const hp = parseHostPort(str.slice(start, i));
  if (!hp) throw badHeader('VIA', s, 'bad sent-by');
  while (i < n && (str.charCodeAt(i) === 32 || str.charCodeAt(i) === 9)) i++;
  const params: Record<string, string | null> = {};
  if (i < n) {
    if (str.charCodeAt(i) !== 59) throw badHeader('VIA', s, 'garbage after sent-by');
    if (!parseParams(str.slice(i), params)) throw badHeader('VIA', s, 'bad parameter');
  }
  const v: ParsedVia = { transport: parts[2]!, host: hp.host, params };
  if (hp.port !== undefined) v.port = hp.port;
  const b = params['branch'];
  if (b !== undefined && b !== null) v.branch = b;
  const rcv = params['received'];
  if (rcv !== undefined && rcv !== null) v.received = rcv;
  if ('rport' in params) {
    const rp = params['rport'];
    if (rp === null || rp === '') v.rport = null;
    else {
      const num = Number(rp);
      if (!Number.isInteger(num) || num < 0 || num > 65535) throw badHeader('VIA', s, 'bad rport');
      v.rport = num;
    }
  }
  return v;
}

/** Formats a Via; the branch/received/rport fields win over the same names in `params`. */
export function formatVia(v: ParsedVia): string {
  const p: Record<string, string | null> = { ...v.params };
  if (v.branch !== undefined) p['branch'] = v.branch;
  if (v.received !== undefined) p['received'] = v.received;
  if (v.rport !== undefined) p['rport'] = v.rport === null ? null : String(v.rport);
  return `SIP/2.0/${v.transport} ${v.host}${v.port !== undefined ? ':' + v.port : ''}${formatParams(p)}`;
}

/** Parses "4711 INVITE". Throws SipParseError BAD_CSEQ. */
export function parseCSeq(s: string): ParsedCSeq {
  const str = s.trim();
  let i = 0;
  const n = str.length;
  let seq = 0;
  while (i < n) {
    const c = str.charCodeAt(i);
    if (c < 48 || c > 57) break;
    seq = seq * 10 + (c - 48);
    i++;
  }
  // §8.1.1.5: "The sequence number value MUST be expressible as a 32-bit unsigned integer and MUST be less than 2**31."
  if (i === 0 || i > 10 || seq >= 2 ** 31) throw badHeader('CSEQ', s, 'bad sequence number');
  if (i >= n || (str.charCodeAt(i) !== 32 && str.charCodeAt(i) !== 9)) throw badHeader('CSEQ', s, 'missing method');
  const method = str.slice(i).trim();
  if (!isToken(method)) throw badHeader('CSEQ', s, 'bad method');
  return { seq, method };
}

/**
 * The tag parameter of a From/To value, without building a NameAddr: looks for
 * ";tag=" after the closing '>' (or anywhere in an addr-spec form).
 */
export function getTag(value: string): string | undefined {
  const gt = value.lastIndexOf('>');
  const params = gt === -1 ? value : value.slice(gt + 1);
  let i = 0;
  for (;;) {
    const semi = params.indexOf(';', i);
    if (semi === -1) return undefined;
    let j = semi + 1;
    while (params.charCodeAt(j) === 32 || params.charCodeAt(j) === 9) j++;
    if (params.length >= j + 3 && params.slice(j, j + 3).toLowerCase() === 'tag') {
      let k = j + 3;
      while (params.charCodeAt(k) === 32 || params.charCodeAt(k) === 9) k++;
      if (params.charCodeAt(k) === 61 /* = */) {
        let e = params.indexOf(';', k + 1);
        if (e === -1) e = params.length;
        const t = params.slice(k + 1, e).trim();
        return t.length ? t : undefined;
      }
    }
    i = semi + 1;
  }
}
