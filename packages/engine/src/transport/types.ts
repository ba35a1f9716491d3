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
  /**
   * TCP: the port to open a new connection to when neither `connectionId` nor a connection to address:port is
   * open (a response: the top Via's sent-by port, RFC 3261 §18.2.2). Default `port`.
   */
  connectPort?: number;
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
