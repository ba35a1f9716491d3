import { defineConfig } from 'vitest/config';

// One root config for the whole workspace. Test files run one after another:
// end-to-end suites bind real ports, spawn SIPp and redis-server and build
// network namespaces, and two of them at once on a 2-core CI box would only
// measure each other.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
