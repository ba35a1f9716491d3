import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { DropLog } from '../src/drop-log.js';

function fakeLogger() {
  const records: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => records.push({ level, obj, msg });
  return { records, logger: { info: at('info'), warn: at('warn'), debug: at('debug'), error: at('error') } as never };
}

describe('DropLog (malformed SIP flood cannot flood the log)', () => {
  it('logs the first 5 drops of a window one by one, the rest as one summary at the window end, and counts all', () => {
    const clock = new ManualClock();
    const { records, logger } = fakeLogger();
    const d = new DropLog({ clock, logger });
    const remote = { address: '127.0.0.1', port: 5060 };
    for (let i = 0; i < 1000; i++) d.drop(i % 2 ? 'BAD_START_LINE' : 'MISSING_HEADER', remote, 'x');
    expect(records.length).toBe(5);
    clock.advance(10_000);
    expect(records.length).toBe(6);
    expect(records[5]!.msg).toBe('malformed SIP messages dropped (rate-limited)');
    expect(records[5]!.obj).toMatchObject({ suppressed: 995, dropped: 1000 });
    expect(d.snapshot()).toEqual({ total: 1000, byCode: { BAD_START_LINE: 500, MISSING_HEADER: 500 } });
    d.drop('BAD_VIA', remote, 'y'); // a new window logs at once again
    expect(records.length).toBe(7);
    expect(records[6]!.obj).toMatchObject({ code: 'BAD_VIA', dropped: 1001 });
  });
});
