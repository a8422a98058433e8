import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Opt-in suites (big networks, minutes on the software adapter) run with VGGC_OPT_IN=1:
    // `npm run test:opt-in`. They are left out of the default run, not skipped inside it.
    include: process.env.VGGC_OPT_IN ? ['test/opt-in/**/*.test.ts'] : ['test/*.test.ts'],
    // GPU suites share one software adapter on a 2-core machine: run files one at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
