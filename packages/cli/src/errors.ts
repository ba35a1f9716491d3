/** CLI errors: a stable code, the exit code it maps to, and a one-line hint. */
export type CliErrorCode =
  | 'ERR_USAGE'
  | 'ERR_CONFIG'
  | 'ERR_ENGINE'
  | 'ERR_CORE'
  | 'ERR_REDIS'
  | 'ERR_HA'
  // admin API clients (status, switchover, drain, calls)
  | 'ERR_NODE_UNREACHABLE'
  | 'ERR_NODE_AUTH'
  | 'ERR_NODE_REFUSED'
  | 'ERR_NODE_FAILED';

const EXIT: Record<CliErrorCode, number> = { ERR_USAGE: 2, ERR_CONFIG: 2, ERR_ENGINE: 1, ERR_CORE: 1, ERR_REDIS: 1, ERR_HA: 1, ERR_NODE_UNREACHABLE: 4, ERR_NODE_AUTH: 5, ERR_NODE_REFUSED: 1, ERR_NODE_FAILED: 1 };

export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;
  readonly hint?: string;
  constructor(opts: { code: CliErrorCode; message: string; hint?: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CliError';
    this.code = opts.code;
    this.exitCode = EXIT[opts.code];
    if (opts.hint !== undefined) this.hint = opts.hint;
  }
}
