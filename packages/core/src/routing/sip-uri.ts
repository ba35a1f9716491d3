/** Minimal SIP URI helpers for routing (RFC 3261 §19.1.1). */
const SIP_URI = /^(sips?):(?:([^@;?>\s]+)@)?([^;?>\s@]+)((?:;[^?>\s]*)?)((?:\?[^>\s]*)?)$/i;

export interface SipUriParts {
  scheme: 'sip' | 'sips';
  user?: string;
  hostport: string;
  params: string;
  headers: string;
}

export function parseSipUri(uri: string): SipUriParts | undefined {
  const m = SIP_URI.exec(uri.trim());
  if (!m) return undefined;
  const hostport = m[3]!;
  // host is a name, IPv4 or [IPv6]; optional :port
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.test(hostport)) return undefined;
  const port = /:(\d+)$/.exec(hostport.replace(/^\[[^\]]*\]/, ''));
  if (port && Number(port[1]) > 65535) return undefined;
  return {
    scheme: m[1]!.toLowerCase() as 'sip' | 'sips',
    user: m[2],
    hostport,
    params: m[4] ?? '',
    headers: m[5] ?? '',
  };
}

export function isSipUri(uri: string): boolean {
  return parseSipUri(uri) !== undefined;
}

/** The user part of a SIP URI (the dialed number), or '' when there is none. */
export function userOf(uri: string): string {
  const bare = uri.trim().replace(/^<|>$/g, '');
  return parseSipUri(bare)?.user ?? '';
}

/**
 * The Request-URI for the B leg: the route target, with the dialed user put in
 * when the target names only a host.
 */
export function requestUriFor(target: string, user: string): string {
  const t = parseSipUri(target);
  if (!t || t.user || !user) return target;
  return `${t.scheme}:${user}@${t.hostport}${t.params}${t.headers}`;
}
