/**
 * @dualsip/engine — a SIP stack that unmodified drachtio-srf apps connect to.
 *
 *   const engine = new Engine({ sip: { listen: [{ transport: 'udp', address, port }], externalAddress? },
 *                               admin: { address, port, secret }, unknownDialogPolicy?: 'reject' | 'app',
 *                               timers?, maxMessageSize?, clock?, logger? });
 *   await engine.start(); engine.adminAddress(); engine.sipAddresses(); engine.stats();
 *   await engine.addListen(spec) / removeListen(spec)     // HA: bind/unbind the SIP port or floating IP
 *   await engine.close() (drain) / engine.destroy(err) (abort)
 *
 * Running as a separate process or worker thread: see main.ts —
 *   startEngineFromArgs(configObjectOrJson): Promise<Engine>
 *   `node --import tsx packages/engine/src/main.ts '<json>'` posts { type: 'ready', admin, sip } via IPC,
 *   accepts { type: 'addListen' | 'removeListen', spec } and { type: 'close' }.
 */
export { Engine, EngineError, EngineState, type EngineOptions, type EngineStats, type ListenSpec, type UnknownDialogPolicy } from './engine.js';
export { startEngineFromArgs, parseEngineConfig, type EngineConfig } from './main.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export { WireServer, SERVER_VERSION } from './wire/server.js';
export { FrameDecoder, encodeFrame, WireError } from './wire/codec.js';
