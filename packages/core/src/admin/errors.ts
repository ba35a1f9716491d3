/** Admin API errors: a stable `code` and the HTTP status it is answered with. */
export type AdminErrorCode =
  | 'ERR_ADMIN_UNAUTHORIZED'
  | 'ERR_ADMIN_NOT_FOUND'
  | 'ERR_ADMIN_METHOD'
  | 'ERR_ADMIN_BAD_REQUEST'
  | 'ERR_ADMIN_BAD_OPTIONS'
  | 'ERR_ADMIN_NOT_PAIR'
  | 'ERR_ADMIN_DRAINING'
  | 'ERR_ADMIN_NOT_DRAINING'
  | 'ERR_ADMIN_CLOSED';

export class AdminError extends Error {
  readonly code: AdminErrorCode;
  constructor(opts: { code: AdminErrorCode; message: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AdminError';
    this.code = opts.code;
  }
}

/** HTTP status for an error code (ours, the HA controller's, sync's); 500 for anything else. */
export function httpStatusFor(code: string | undefined): number {
  switch (code) {
    case 'ERR_ADMIN_UNAUTHORIZED':
      return 401;
    case 'ERR_ADMIN_NOT_FOUND':
      return 404;
    case 'ERR_ADMIN_METHOD':
      return 405;
    case 'ERR_ADMIN_BAD_REQUEST':
      return 400;
    case 'ERR_ADMIN_NOT_PAIR':
    case 'ERR_ADMIN_DRAINING':
    case 'ERR_ADMIN_NOT_DRAINING':
    case 'ERR_HA_NOT_ACTIVE':
    case 'ERR_HA_SWITCHOVER_IN_PROGRESS':
    case 'ERR_HA_PAIR_NOT_READY':
    case 'ERR_HA_PEER_UNREACHABLE':
      return 409;
    case 'ERR_HA_SWITCHOVER_TIMEOUT':
      return 504;
    case 'ERR_HA_SWITCHOVER_ABORTED':
    case 'ERR_HA_CLOSED':
    case 'ERR_ADMIN_CLOSED':
      return 503;
    default:
      return 500;
  }
}
