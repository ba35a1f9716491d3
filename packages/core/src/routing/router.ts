import { CoreError } from '../errors.js';
import { isSipUri } from './sip-uri.js';

export interface RouteRule {
  /** Request-URI user prefix; '' matches every user. */
  prefix: string;
  /** SIP URI to send the call to. */
  target: string;
}

export interface RoutingConfig {
  rules: RouteRule[];
  /** Target when no rule matches. */
  default?: string;
}

export interface RouteDecision {
  target: string;
  /** 'prefix:<prefix>' for a rule, 'default' for the default target. */
  rule: string;
}

/** Returns the problems with a routing configuration, each naming its key. */
export function validateRouting(config: RoutingConfig): string[] {
  const problems: string[] = [];
  if (!config || !Array.isArray(config.rules)) return ['routing.rules: must be an array'];
  config.rules.forEach((r, i) => {
    if (typeof r?.prefix !== 'string' || !/^[^\s@;:]*$/.test(r.prefix)) {
      problems.push(`routing.rules[${i}].prefix: must be a string of URI user characters (got ${JSON.stringify(r?.prefix)})`);
    }
    if (typeof r?.target !== 'string' || !isSipUri(r.target)) {
      problems.push(`routing.rules[${i}].target: must be a SIP URI (got ${JSON.stringify(r?.target)})`);
    }
  });
  const seen = new Set<string>();
  for (const r of config.rules) {
    if (seen.has(r?.prefix)) problems.push(`routing.rules: prefix ${JSON.stringify(r.prefix)} appears twice`);
    seen.add(r?.prefix);
  }
  if (config.default !== undefined && config.default !== '' && !isSipUri(config.default)) {
    problems.push(`routing.default: must be a SIP URI (got ${JSON.stringify(config.default)})`);
  }
  return problems;
}

/** Static routing: the longest matching Request-URI user prefix wins, else the default target. */
export class Router {
  readonly #rules: RouteRule[];
  readonly #default?: string;

  constructor(config: RoutingConfig) {
    const problems = validateRouting(config);
    if (problems.length > 0) {
      throw new CoreError({ code: 'ERR_INVALID_ROUTING', message: problems.join('; ') });
    }
    this.#rules = [...config.rules].sort((x, y) => y.prefix.length - x.prefix.length);
    this.#default = config.default || undefined;
  }

  /** Decides where a call for `user` goes; undefined when nowhere. */
  route(user: string): RouteDecision | undefined {
    for (const r of this.#rules) {
      if (user.startsWith(r.prefix)) return { target: r.target, rule: `prefix:${r.prefix}` };
    }
    if (this.#default) return { target: this.#default, rule: 'default' };
    return undefined;
  }
}
