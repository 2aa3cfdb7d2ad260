import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The CLI tests spawn bin/patchwise.js, which runs the built dist/: build it first.
    globalSetup: ['test/package/build-dist.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // onnxruntime sessions are CPU-heavy; two cores, so run files two at a time at most.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
