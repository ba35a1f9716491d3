/**
 * @module transport — UDP and TCP (RFC 3261 §18): bytes in, bytes out.
 *
 * API summary (stable):
 *   new TransportLayer({ listen: [{ transport: 'udp'|'tcp', address, port }], recvBufferSize?, sendBufferSize?
 *                        (16 MiB), maxMessageSize? (65535), idleTimeoutMs? (120 s), tuneSysctl? (true), logger? })
 *     .start(): Promise<void>       binds all; rejects TransportError { code: 'EADDRINUSE' | 'EADDRNOTAVAIL' | ... }
 *                                   with the address in the message
 *     .send(buf, dest, onError?)    never throws; UDP from the first socket of dest's family; TCP on
 *                                   dest.connectionId if open, else an open connection to address:port, else connect
 *     .listening()                  actual bound addresses (port 0 resolved)
 *     .connectionCount, .udpBufferSizes()   (actual kernel SO_RCVBUF/SO_SNDBUF)
 *     .close(): Promise<void> drains, .destroy(err?) aborts; both idempotent
 *   events (typed, .on/.off/.once): 'message' (buf, info: ReceiveInfo), 'error' (err),
 *     'connection' (connectionId, remote), 'connectionClosed' (connectionId, reason)
 *   TCP: one StreamFramer per connection; a malformed stream closes that connection (logged, reason in
 *   'connectionClosed'); idle connections are closed after idleTimeoutMs.
 *   ReceiveInfo { transport, remote, local, connectionId? }   Destination { transport, address, port, connectionId? }
 */
export { TransportLayer, TransportError, type TransportLayerOptions, type TransportEvents } from './transport-layer.js';
export { TypedEmitter, type EventMap } from './typed-emitter.js';
export { isReliable, type ReceiveInfo, type Destination, type ListenSpec, type TransportName } from './types.js';
