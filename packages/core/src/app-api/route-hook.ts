/**
 * The routing hook CallControl calls for each new call when an application has
 * registered as a router. CallControl never waits longer than `timeoutMs`: a
 * slow, stuck or failing hook means static routing.
 */
import type { Clock } from '../clock.js';
import type { IncomingRequestLike } from '../srf-surface.js';

/** What an application learns about a new call (the caller's INVITE). */
export interface CallOffer {
  /** The call's record id (the id every call event and command uses). */
  call: string;
  requestUri: string;
  /** Request-URI user part ('' when none). */
  user: string;
  from: string;
  to: string;
  /** Call-ID of the A leg. */
  sipCallId: string;
  /** Custom headers of the INVITE (X-*, plus P-Asserted-Identity and Diversion when present). */
  headers: Record<string, string>;
}

export type RouteAnswer =
  | { action: 'route'; target: string; headers?: Record<string, string> }
  | { action: 'reject'; status: number; reason?: string };

export interface RouteHook {
  /** Ask for a decision; undefined means "use static routing". May reject (treated as undefined). */
  ask(offer: CallOffer): Promise<RouteAnswer | undefined>;
  /** Upper bound CallControl waits for ask(). */
  readonly timeoutMs: number;
}

const EXTRA_HEADERS = ['P-Asserted-Identity', 'Diversion', 'Referred-By', 'User-to-User'];

function header(req: IncomingRequestLike, name: string): string | undefined {
  try {
    return req.has(name) ? (req.get(name) ?? undefined) : undefined;
  } catch {
    return undefined;
  }
}

/** Collects custom headers (X-* and a few well-known ones) from a drachtio-srf request. */
export function customHeaders(req: IncomingRequestLike): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = (req as unknown as { headers?: Record<string, unknown> }).headers;
  if (raw && typeof raw === 'object') {
    for (const [k, v] of Object.entries(raw)) {
      if (/^x-/i.test(k) && typeof v === 'string') out[canonical(k)] = v;
    }
  }
  for (const h of EXTRA_HEADERS) {
    const v = header(req, h);
    if (v !== undefined) out[h] = v;
  }
  return out;
}

function canonical(name: string): string {
  return name
    .split('-')
    .map((p) => (p.length ? p[0]!.toUpperCase() + p.slice(1) : p))
    .join('-');
}

export function callOfferFrom(call: string, req: IncomingRequestLike, user: string): CallOffer {
  return {
    call,
    requestUri: req.uri,
    user,
    from: header(req, 'From') ?? '',
    to: header(req, 'To') ?? '',
    sipCallId: header(req, 'Call-ID') ?? '',
    headers: customHeaders(req),
  };
}

/** Runs hook.ask() bounded by hook.timeoutMs; never rejects. */
export function askWithTimeout(hook: RouteHook, offer: CallOffer, clock: Clock): Promise<RouteAnswer | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: RouteAnswer | undefined): void => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      resolve(v);
    };
    const timer = clock.setTimeout(() => finish(undefined), hook.timeoutMs);
    let p: Promise<RouteAnswer | undefined>;
    try {
      p = hook.ask(offer);
    } catch {
      finish(undefined);
      return;
    }
    Promise.resolve(p).then(finish, () => finish(undefined));
  });
}
