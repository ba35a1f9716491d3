import { describe, expect, it } from 'vitest';
import { HaError, Role, RoleMachine } from '../../src/ha/index.js';

function expectIllegal(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(HaError);
  expect((caught as HaError).code).toBe('ERR_HA_ILLEGAL_TRANSITION');
}

describe('RoleMachine', () => {
  it('each node starts passive (Starting), then takes over, becomes active, steps down and rejoins as passive', () => {
    const changes: string[] = [];
    const m = new RoleMachine({ onChange: (c) => changes.push(`${c.from}>${c.to}`) });
    expect(m.state).toBe(Role.Starting);
    m.transition(Role.Passive, 'peer active');
    m.transition(Role.TakingOver, 'peer dead');
    m.transition(Role.Active, 'done');
    m.transition(Role.Draining, 'switchover');
    m.transition(Role.SteppingDown, 'hand over');
    m.transition(Role.Passive, 'released');
    expect(changes).toEqual([
      'starting>passive',
      'passive>taking-over',
      'taking-over>active',
      'active>draining',
      'draining>stepping-down',
      'stepping-down>passive',
    ]);
    expect(m.history.map((c) => c.to)).toEqual([Role.Passive, Role.TakingOver, Role.Active, Role.Draining, Role.SteppingDown, Role.Passive]);
  });

  it('a node that sees a higher epoch stops being active at once: Active -> Fenced -> Passive', () => {
    const m = new RoleMachine();
    m.transition(Role.TakingOver, 'no peer');
    m.transition(Role.Active, 'done');
    m.transition(Role.Fenced, 'higher epoch');
    m.transition(Role.Passive, 'released');
    expect(m.state).toBe(Role.Passive);
  });

  it('illegal transitions throw ERR_HA_ILLEGAL_TRANSITION and leave the state unchanged', () => {
    const m = new RoleMachine();
    // Never straight to Active: a takeover always passes through TakingOver (epoch persisted first).
    expectIllegal(() => m.transition(Role.Active, 'skip'));
    expect(m.state).toBe(Role.Starting);
    m.transition(Role.Passive, 'x');
    expectIllegal(() => m.transition(Role.Active, 'skip'));
    expectIllegal(() => m.transition(Role.Fenced, 'passive holds nothing'));
    expectIllegal(() => m.transition(Role.Passive, 'self loop'));
    m.transition(Role.TakingOver, 'x');
    m.transition(Role.Active, 'x');
    expectIllegal(() => m.transition(Role.Passive, 'must release through SteppingDown or Fenced'));
    expectIllegal(() => m.transition(Role.TakingOver, 'already active'));
    expect(m.state).toBe(Role.Active);
  });

  it('Closed is terminal', () => {
    const m = new RoleMachine();
    m.transition(Role.Closed, 'closed');
    expectIllegal(() => m.transition(Role.Passive, 'x'));
    expectIllegal(() => m.transition(Role.Closed, 'again'));
    expect(m.can(Role.Starting)).toBe(false);
  });
});
