/**
 * Errors raised by the call-control core. Every error carries a stable `code`;
 * errors that stand for a SIP failure also carry the SIP `status`.
 */
export type CoreErrorCode =
  | 'ERR_ILLEGAL_TRANSITION'
  | 'ERR_INVALID_ROUTING'
  | 'ERR_INVALID_RECORD'
  | 'ERR_UNKNOWN_CALL'
  | 'ERR_NOT_STARTED'
  | 'ERR_CLOSED'
  | 'ERR_CONNECT'
  | 'ERR_SIP';

export class CoreError extends Error {
  readonly code: CoreErrorCode;
  readonly status?: number;

  constructor(opts: { code: CoreErrorCode; message: string; status?: number; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CoreError';
    this.code = opts.code;
    if (opts.status !== undefined) this.status = opts.status;
  }
}

/** A SIP failure: a final non-2xx response, with its status and reason phrase. */
export class SipFailure extends CoreError {
  readonly reason: string;
  constructor(opts: { status: number; reason?: string; message?: string; cause?: unknown }) {
    super({
      code: 'ERR_SIP',
      status: opts.status,
      message: opts.message ?? `SIP ${opts.status} ${opts.reason ?? ''}`.trim(),
      cause: opts.cause,
    });
    this.name = 'SipFailure';
    this.reason = opts.reason ?? '';
  }
}
