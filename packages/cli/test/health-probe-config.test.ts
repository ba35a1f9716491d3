// admin.healthProbe: serve /health/* without the admin token (default) or only with it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNodeConfig } from '../src/config.js';

function tmpConfig(obj: unknown): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dualsip-cfg-')), 'c.json');
  fs.writeFileSync(file, JSON.stringify(obj));
  return file;
}

describe('admin.healthProbe', () => {
  it('defaults to true; false from the file or DUALSIP_ADMIN_HEALTH_PROBE turns it off', () => {
    expect(loadNodeConfig({ env: {} }).admin.healthProbe).toBe(true);
    expect(loadNodeConfig({ env: { DUALSIP_ADMIN_HEALTH_PROBE: 'false' } }).admin.healthProbe).toBe(false);
    expect(loadNodeConfig({ env: { DUALSIP_ADMIN_HEALTH_PROBE: 'TRUE' } }).admin.healthProbe).toBe(true);
    expect(loadNodeConfig({ env: {}, file: tmpConfig({ admin: { healthProbe: false } }) }).admin.healthProbe).toBe(false);
  });

  it('refuses anything but true/false with a config error naming the key', () => {
    const bad: Array<() => unknown> = [
      () => loadNodeConfig({ env: { DUALSIP_ADMIN_HEALTH_PROBE: 'nope' } }),
      () => loadNodeConfig({ env: { DUALSIP_ADMIN_HEALTH_PROBE: '0' } }),
      () => loadNodeConfig({ env: {}, file: tmpConfig({ admin: { healthProbe: 'yes' } }) }),
      () => loadNodeConfig({ env: {}, file: tmpConfig({ admin: { healthProbe: 1 } }) }),
    ];
    for (const f of bad) {
      expect(f).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringMatching(/^config error: admin\.healthProbe: must be true or false/) }));
    }
  });
});
