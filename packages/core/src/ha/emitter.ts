/** The HA layer uses the core's typed emitter (see ../typed-emitter.ts) under its own names. */
export { TypedEmitter as HaEmitter, type EventMap as HaEventMap } from '../typed-emitter.js';

/** pino-compatible subset used by the HA layer. */
export interface HaLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: HaLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
