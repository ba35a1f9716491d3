/**
 * The application API's wire messages as the client sees them (the node's
 * side is packages/core/src/app-api/protocol.ts; the JSON is the contract).
 */
export type Leg = 'a' | 'b';

export interface CallOffer {
  call: string;
  requestUri: string;
  user: string;
  from: string;
  to: string;
  sipCallId: string;
  headers: Record<string, string>;
}

export interface CallSummary {
  state: string;
  from: string;
  to: string;
  requestUri: string;
  target: string;
  rule: string;
  createdAt: number;
  answeredAt?: number;
  endedAt?: number;
  endReason?: string;
  endStatus?: number;
  durationMs?: number;
  epoch: number;
  headers?: Record<string, string>;
}

export type CallEventName = 'call.offered' | 'call.ringing' | 'call.answered' | 'call.modified' | 'call.ended';
export type PairEventName =
  | 'pair.role'
  | 'pair.takeoverStarted'
  | 'pair.takeoverFinished'
  | 'pair.peerLost'
  | 'pair.peerBack'
  | 'pair.syncNotReady'
  | 'pair.syncReady';

export interface CallEvent {
  event: CallEventName;
  /** Node that sent it. */
  node: string;
  call: string;
  /** Version of the call record: increases per call, continues across a takeover. */
  seq: number;
  replay?: boolean;
  /** Set when the client made the event up (a call the new active does not know after a takeover). */
  synthesized?: boolean;
  data: CallSummary;
}

export interface PairEvent {
  event: PairEventName;
  node: string;
  boot: string;
  seq: number;
  data: Record<string, unknown>;
}

export interface PairView {
  node: string;
  role: string;
  epoch: number;
  ready: boolean;
  readyReasons: string[];
  active: string | null;
  peer: { id: string; alive: boolean; role: string | null } | null;
}

export type RouteDecision =
  | { action: 'route'; target: string; headers?: Record<string, string> }
  | { action: 'reject'; status: number; reason?: string }
  | { action: 'static' };

export type ServerMessage =
  | { type: 'result'; id: string | number; data: unknown }
  | { type: 'error'; id: string | number | null; code: string; message: string; status?: number; active?: string | null }
  | ({ type: 'event' } & CallEvent)
  | ({ type: 'event' } & PairEvent)
  | { type: 'route.request'; request: string; offer: CallOffer; timeoutMs: number };
