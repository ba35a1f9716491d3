import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../src/clock.js';

describe('ManualClock', () => {
  it('runs due timers in due-time order, same-time timers in scheduling order, and timers scheduled by timers', () => {
    const c = new ManualClock();
    const log: string[] = [];
    c.setTimeout(() => log.push(`b@${c.now()}`), 20);
    c.setTimeout(() => {
      log.push(`a@${c.now()}`);
      c.setTimeout(() => log.push(`a2@${c.now()}`), 5);
    }, 10);
    c.setTimeout(() => log.push(`b'@${c.now()}`), 20);
    const gone = c.setTimeout(() => log.push('cancelled'), 15);
    c.clearTimeout(gone);
    c.advance(19);
    expect(log).toEqual(['a@10', 'a2@15']);
    expect(c.now()).toBe(19);
    c.advance(1);
    expect(log).toEqual(['a@10', 'a2@15', 'b@20', "b'@20"]);
    expect(c.pending).toBe(0);
    expect(() => c.advance(-1)).toThrow(RangeError);
  });

  it('systemClock fires real timers and can cancel them', async () => {
    let fired = 0;
    const h = systemClock.setTimeout(() => fired++, 1);
    systemClock.clearTimeout(systemClock.setTimeout(() => fired += 10, 1));
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(1);
    systemClock.clearTimeout(h);
  });
});
