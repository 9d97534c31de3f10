import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // Integration files share one stack; running them one at a time keeps a 2-core machine honest.
          fileParallelism: false,
        },
      },
      {
        // Issue 14 (`npm run test:cluster`, also run by .ci/run): a 3-broker Kafka with broker
        // kills, HBase regions in motion, servers and workers in two network namespaces. Private
        // servers per file (minutes each), so kept out of `npm test`'s time budget.
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
