import { defineConfig } from "vitest/config";

// Two projects: `unit` (pure code beside src/, no platform) and `integration` (test/, against
// the real platform that test/support/global-setup.ts brings up). See docs/testing.md.
export default defineConfig({
  test: {
    reporters: ["default", "./test/support/closing-line-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          sequence: { groupOrder: 0 },
          include: ["src/**/*.test.ts", "stacks/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          // Runs after the unit project (different worker limits need distinct groups).
          sequence: { groupOrder: 1 },
          include: ["test/**/*.test.ts"],
          environment: "node",
          globalSetup: ["./test/support/global-setup.ts"],
          // Real processes (tofu, the API server) on 2 cores: generous limits, forked workers
          // so a crashing native child cannot take the runner down.
          pool: "forks",
          maxWorkers: 2,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
