import { describe, expect, it } from 'vitest';
import { CallState, isLegalTransition, transition } from '../src/call/call-state.js';

describe('call state machine', () => {
  it('walks the happy path', () => {
    let s = CallState.Routing;
    for (const next of [CallState.Calling, CallState.Ringing, CallState.Ringing, CallState.Answered, CallState.Ending, CallState.Ended]) {
      s = transition(s, next);
    }
    expect(s).toBe(CallState.Ended);
  });

  it('fails from every unanswered state', () => {
    for (const s of [CallState.Routing, CallState.Calling, CallState.Ringing]) expect(transition(s, CallState.Failed)).toBe(CallState.Failed);
  });

  it('rejects illegal moves with ERR_ILLEGAL_TRANSITION', () => {
    expect(() => transition(CallState.Answered, CallState.Failed)).toThrow(expect.objectContaining({ code: 'ERR_ILLEGAL_TRANSITION' }));
    expect(() => transition(CallState.Routing, CallState.Answered)).toThrow(/routing -> answered/);
    expect(isLegalTransition(CallState.Ended, CallState.Ending)).toBe(false);
    expect(isLegalTransition(CallState.Failed, CallState.Calling)).toBe(false);
    expect(isLegalTransition(CallState.Calling, CallState.Answered)).toBe(true);
  });
});
