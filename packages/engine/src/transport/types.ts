export type TransportName = 'udp' | 'tcp';

export interface ReceiveInfo {
  transport: TransportName;
  remote: { address: string; port: number };
  local: { address: string; port: number };
  /** TCP: the connection the message arrived on; answers go back on it. */
  connectionId?: string;
}

export interface Destination {
  transport: TransportName;
  address: string;
  port: number;
  /** TCP: send on this connection if it is still open. */
  connectionId?: string;
}

export interface ListenSpec {
  transport: TransportName;
  address: string;
  port: number;
}

/** RFC 3261 §18: TCP (and later TLS/WS) is reliable; retransmission timers only run over UDP. */
export function isReliable(t: string): boolean {
  return t !== 'udp';
}
