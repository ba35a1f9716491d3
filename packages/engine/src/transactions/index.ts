/**
 * @module transactions — RFC 3261 §17 with RFC 6026 (INVITE "Accepted" states).
 *
 * API summary (stable):
 *   new TransactionLayer({ clock, timers?: {t1,t2,t4} (500/4000/5000), send(msg, dest, onError?), user, logger? })
 *     .receive(msg, info)                      feed every parsed message; requests get received/rport stamped (§18.2.1)
 *     .sendRequest(req, dest, ctUser)          → ClientTransaction (ICT for INVITE, NICT otherwise); top Via must carry
 *                                              a z9hG4bK branch. Throws TransactionError (ERR_NO_BRANCH, ERR_CLOSED,
 *                                              ERR_DUPLICATE_TRANSACTION, ERR_ACK_NOT_TRANSACTIONAL ...)
 *     .sendStateless(msg, dest)                ACK for 2xx, stateless answers
 *     .findInviteForCancel(cancel)             → the IST a CANCEL refers to (§9.2)
 *     .size                                    live transactions;  .close() aborts all, idempotent
 *   TransactionUser { onRequest(req, st | undefined (ACK), info); onStrayResponse(res, info) }
 *     ACKs that hit an IST in "Accepted" (2xx ACK reusing the INVITE branch) also go to onRequest with st undefined.
 *   ClientTransactionUser { onResponse(res, ct); onTimeout(ct) (timer B/F); onTransportError?(ct, err) (else onTimeout) }
 *   ClientTransaction { id, branch, request, destination, state, cancel(user, extraHeaders?) }
 *     ICT sends the ACK for 3xx-6xx itself (§17.1.1.3). cancel(): sent now if a provisional arrived (returns the
 *     CANCEL's NICT); held until the first provisional if still Calling (returns undefined); else nothing.
 *   ServerTransaction { id, request, source, state, responseDestination, respond(res), on/off(ev) }
 *     events: 'terminated', 'ack' (ACK of a non-2xx), 'timeout' (timer H), 'transportError'.
 *     IST sends 100 Trying by itself if the TU has not answered within 200 ms (§17.2.1).
 *     respond() in a state that forbids it throws TransactionError ERR_TRANSACTION_STATE (a 2xx on a terminated IST
 *     is sent statelessly: the UA core retransmits 2xx itself).
 *   Timers: A/E/G only over UDP; D/I/J/K are 0 over TCP; B=F=H=J=L=M=64*T1; D=max(32 s, 32*T1); I=K=T4.
 */
export { TransactionLayer, responseDestination, type TransactionLayerOptions } from './layer.js';
export { InviteClientTransaction, IctState } from './invite-client.js';
export { NonInviteClientTransaction, NictState } from './non-invite-client.js';
export { InviteServerTransaction, IstState, AUTO_TRYING_MS } from './invite-server.js';
export { NonInviteServerTransaction, NistState } from './non-invite-server.js';
export {
  DEFAULT_TIMERS,
  TransactionError,
  type TimerConfig,
  type SendFn,
  type TransactionUser,
  type ClientTransactionUser,
  type ClientTransaction,
  type ServerTransaction,
  type ServerTransactionEvents,
} from './types.js';
