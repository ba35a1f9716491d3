/**
 * process.env as a plain object for the node's main thread.
 *
 * drachtio-srf reads `process.env.DRACHTIO_PRESERVE_HEADER_NAMES` every time it names a
 * header (lib/sip-parser/parser.js getHeaderName): for every header line of every SIP
 * message it parses and on every `get`/`set` of a header, a few hundred times per call
 * through the B2BUA. process.env is backed by the C environment, so each read is a call
 * into C++ and getenv (~0.3 µs here); in a CPU profile at 300 calls/s this was ~8 % of
 * the main thread's time. A plain object answers the same reads in a few nanoseconds.
 *
 * After the swap, the object holds the environment as it was; reads and writes from
 * JavaScript work as before, child processes and workers started with the default env
 * get its contents (Node passes process.env's keys), but native code calling getenv()
 * no longer sees later writes and a later `process.env.TZ = ...` does not change the time
 * zone. The node sets nothing in its environment after start-up.
 */
export function snapshotProcessEnv(proc: { env: NodeJS.ProcessEnv } = process): NodeJS.ProcessEnv {
  const copy: NodeJS.ProcessEnv = {};
  for (const k of Object.keys(proc.env)) copy[k] = proc.env[k];
  proc.env = copy;
  return copy;
}
