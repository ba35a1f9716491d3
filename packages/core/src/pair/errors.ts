/** Errors of the pair runtime (HaNode). Every error carries a stable `code`. */
export type PairErrorCode =
  | 'ERR_PAIR_ILLEGAL_TRANSITION'
  | 'ERR_PAIR_BAD_OPTIONS'
  | 'ERR_PAIR_NOT_STARTED'
  | 'ERR_PAIR_CLOSED'
  | 'ERR_PAIR_TAKEOVER';

export class PairError extends Error {
  readonly code: PairErrorCode;

  constructor(opts: { code: PairErrorCode; message: string; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PairError';
    this.code = opts.code;
  }
}
