import { defineConfig } from 'vitest/config';

// CI (.ci/run) asks for a machine-readable report through KVS_PUT_TEST_REPORT, so that it can run exactly
// the README's test command and still print "N passed, N failed".
const reportFile = process.env['KVS_PUT_TEST_REPORT'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The SDK's yearly "Node 22 will be required" notice is noise in test output.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    reporters: reportFile === undefined ? ['default'] : ['default', ['json', { outputFile: reportFile }]],
  },
});
