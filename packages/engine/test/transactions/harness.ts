import { ManualClock } from '../../src/clock.js';
import { createResponse, getHeader, parseMessage, serializeMessage, type SipMessage, type SipRequest, type SipResponse } from '../../src/messages/index.js';
import {
  TransactionLayer,
  type ClientTransaction,
  type ClientTransactionUser,
  type ServerTransaction,
} from '../../src/transactions/index.js';
import type { Destination, ReceiveInfo } from '../../src/transport/index.js';

export interface Sent {
  at: number;
  msg: SipMessage;
  dest: Destination;
}

export function harness(opts: { failSend?: (m: SipMessage) => boolean; failSendViaCallback?: (m: SipMessage) => boolean } = {}) {
  const clock = new ManualClock();
  const sent: Sent[] = [];
  const requests: Array<{ req: SipRequest; st: ServerTransaction | undefined; info: ReceiveInfo }> = [];
  const strays: SipResponse[] = [];
  const layer = new TransactionLayer({
    clock,
    send: (msg, dest, onError) => {
      if (opts.failSend?.(msg)) throw Object.assign(new Error('boom'), { code: 'ECONNRESET' });
      // The transport reports some failures through the callback, before send() returns.
      if (opts.failSendViaCallback?.(msg)) {
        onError?.(Object.assign(new Error('requested protocol/transport not available'), { code: 'ENOTRANSPORT' }));
        return;
      }
      // round-trip through bytes, as the real transport would
      sent.push({ at: clock.now(), msg: parseMessage(serializeMessage(msg)), dest });
    },
    user: {
      onRequest: (req, st, info) => requests.push({ req, st, info }),
      onStrayResponse: (res) => strays.push(res),
    },
  });
  return { clock, sent, requests, strays, layer };
}

export function ctUser() {
  const responses: Array<{ res: SipResponse; ct: ClientTransaction }> = [];
  const timeouts: ClientTransaction[] = [];
  const errors: Error[] = [];
  const user: ClientTransactionUser = {
    onResponse: (res, ct) => responses.push({ res, ct }),
    onTimeout: (ct) => timeouts.push(ct),
    onTransportError: (_ct, err) => errors.push(err),
  };
  return { user, responses, timeouts, errors };
}

let n = 0;
export function request(method: string, opts: { transport?: 'UDP' | 'TCP'; branch?: string; via?: string; extra?: string[] } = {}): SipRequest {
  n++;
  const via = opts.via ?? `SIP/2.0/${opts.transport ?? 'UDP'} 198.18.0.1:5070;branch=${opts.branch ?? 'z9hG4bKtest' + n}`;
  const text = [
    `${method} sip:bob@198.18.0.2 SIP/2.0`,
    `Via: ${via}`,
    'Max-Forwards: 70',
    'From: <sip:alice@198.18.0.1>;tag=from1',
    'To: <sip:bob@198.18.0.2>',
    `Call-ID: call-${n}`,
    `CSeq: 7 ${method}`,
    'Route: <sip:proxy.example;lr>',
    ...(opts.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

export const udpDest: Destination = { transport: 'udp', address: '198.18.0.2', port: 5060 };
export const tcpDest: Destination = { transport: 'tcp', address: '198.18.0.2', port: 5060 };
export const udpInfo: ReceiveInfo = { transport: 'udp', remote: { address: '198.18.0.1', port: 5070 }, local: { address: '198.18.0.2', port: 5060 } };
export const tcpInfo: ReceiveInfo = { transport: 'tcp', remote: { address: '198.18.0.1', port: 40001 }, local: { address: '198.18.0.2', port: 5060 }, connectionId: 'tcp-9' };

/** A response to `req` as a peer would send it (with a fixed To tag). */
export function reply(req: SipRequest, status: number): SipResponse {
  return createResponse(req, status, undefined, { toTag: 'totag1' });
}

export const method = (m: SipMessage) => (m.kind === 'request' ? m.method : String(m.status));
export const cseq = (m: SipMessage) => getHeader(m, 'CSeq');
