/**
 * Mutation check: do the tests notice when the code is broken on purpose?
 *
 * Copies the work tree to a temporary directory (node_modules and .platform are symlinked, so
 * the copy's tests use the platform that is already running), then, one breakage at a time,
 * applies a search/replace to the copy, runs the tests that should catch it, counts the tests
 * that fail and restores the file. The work tree itself is never written. A breakage whose search
 * text is not found (exactly once) stops the check: the code moved and the breakage must follow.
 *
 *   scripts/mutation-check                 all breakages, after a baseline run of the same tests
 *   scripts/mutation-check unknown-routes  only the breakages named (see BREAKAGES)
 *   --no-baseline                          skip the unbroken run    --keep   keep the copy
 *
 * Target: every breakage makes at least three tests fail (exit code 1 otherwise) that pass without
 * it: the baseline runs the same tests unbroken first, and a test that fails there is listed and
 * not counted. Not part of `npm test`: it runs the affected integration tests once per breakage.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const repoRoot = path.resolve(import.meta.dirname, "..");
/** How many failing tests a breakage needs to count as caught. */
const TARGET = 3;

interface Edit {
  file: string;
  search: string;
  replace: string;
}

interface Breakage {
  name: string;
  what: string;
  edits: Edit[];
  tests: string[];
  /** vitest -t: only these tests of the files (a regular expression). */
  testNamePattern?: string;
}

const BREAKAGES: Breakage[] = [
  {
    name: "unknown-routes",
    what: "the simulator answers 200 to routes it does not know (and records nothing)",
    edits: [
      { file: "src/simulator/server.ts", search: "if (!match) ctx.unknownRoutes.push(", replace: "if (false) ctx.unknownRoutes.push(" },
      {
        file: "src/simulator/server.ts",
        search: "  if (!match) {\n    deps.log(",
        replace: '  if (!match) {\n    send(res, 200, "OK", { data: null });\n    done(200);\n    return;\n    deps.log(',
      },
    ],
    tests: ["test/simulator/unknown-route-guard.test.ts", "test/simulator/auth-and-routes.test.ts", "test/simulator/ticket-login.test.ts", "test/simulator/api.test.ts"],
  },
  {
    name: "faults-inert",
    what: "fault injection does nothing: no 500s, no failed tasks, no forced lock timeouts",
    edits: [
      { file: "src/simulator/server.ts", search: "if (ctx.faults.http500Rate > 0 && ctx.random() < ctx.faults.http500Rate) {", replace: "if (false) {" },
      { file: "src/simulator/tasks.ts", search: "const injected = this.options.random() < this.options.failureRate();", replace: "const injected = false;" },
      { file: "src/simulator/faults.ts", search: "return faults.forceLockTimeout || faults.lockTimeoutVmIds.includes(vmid);", replace: "return false;" },
    ],
    tests: ["test/simulator/api.test.ts", "test/e2e/resilience.test.ts"],
    testNamePattern: "injects faults|retries through",
  },
  {
    name: "skip-apply",
    what: "the worker skips `tofu apply` and reports the run applied (Ready)",
    edits: [
      {
        file: "src/jobs/tofu-session.ts",
        search: 'return this.timed("apply", () => this.d.runner.apply(this.options, planFile));',
        replace: "return Promise.resolve({ changes: { add: 0, change: 0, remove: 0 } });",
      },
    ],
    tests: ["test/e2e/lifecycle.test.ts", "test/e2e/approval-and-deletion.test.ts"],
  },
  {
    name: "no-observed-generation",
    what: "status writes drop status.observedGeneration",
    edits: [
      {
        file: "src/kube/status-writer.ts",
        search: "return await this.client.replaceStatus({ ...obj, status: after });",
        replace: "return await this.client.replaceStatus({ ...obj, status: { ...after, observedGeneration: undefined } });",
      },
    ],
    tests: ["test/e2e/lifecycle.test.ts", "test/e2e/approval-and-deletion.test.ts", "test/http/rest-and-metrics.test.ts"],
  },
  {
    name: "no-redaction",
    what: "redaction is turned off: Redactor.redact returns its input",
    edits: [{ file: "src/terraform/redact.ts", search: "  redact(input: string): string {\n", replace: "  redact(input: string): string {\n    return input;\n" }],
    tests: ["src/terraform/redact.test.ts", "test/terraform/secrets.test.ts", "test/terraform/redaction-everywhere.test.ts"],
  },
];

interface Outcome {
  files: number;
  passed: number;
  failed: number;
  /** Test files that could not run at all (import or hook errors outside any test). */
  brokenFiles: number;
  failedTitles: string[];
  passedTitles: string[];
}

function copyTree(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ptm-mutation-"));
  const listed = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  for (const file of new Set(listed.stdout.split("\0").filter(Boolean))) {
    const from = path.join(repoRoot, file);
    if (!existsSync(from)) continue; // deleted in the work tree, still in the index
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    copyFileSync(from, path.join(dir, file));
  }
  for (const shared of ["node_modules", ".platform"]) symlinkSync(path.join(repoRoot, shared), path.join(dir, shared));
  return dir;
}

function applyEdits(copy: string, breakage: Breakage): () => void {
  const originals = new Map<string, string>();
  for (const edit of breakage.edits) {
    const file = path.join(copy, edit.file);
    const text = originals.get(file) ?? readFileSync(file, "utf8");
    if (!originals.has(file)) originals.set(file, text);
    const current = readFileSync(file, "utf8");
    const count = current.split(edit.search).length - 1;
    if (count !== 1) {
      for (const [f, original] of originals) writeFileSync(f, original);
      throw new Error(`breakage ${breakage.name}: expected the search text exactly once in ${edit.file}, found it ${count} times:\n${edit.search}`);
    }
    writeFileSync(file, current.replace(edit.search, () => edit.replace));
  }
  return () => {
    for (const [file, original] of originals) writeFileSync(file, original);
  };
}

function runTests(copy: string, label: string, tests: string[], testNamePattern?: string): Outcome {
  const report = path.join(copy, `.mutation-${label}.json`);
  const args = [path.join(copy, "node_modules/vitest/vitest.mjs"), "run", ...tests, "--reporter=dot", "--reporter=json", `--outputFile.json=${report}`];
  if (testNamePattern) args.push("-t", testNamePattern);
  console.log(`[mutation-check] ${label}: vitest run ${tests.join(" ")}${testNamePattern ? ` -t "${testNamePattern}"` : ""}`);
  spawnSync(process.execPath, args, {
    cwd: copy,
    stdio: ["ignore", "inherit", "inherit"],
    // The platform already runs (its .platform is linked in): the copy must not start another.
    env: { ...process.env, PTM_SKIP_PLATFORM_UP: "1", PTM_TEST_WAIT_CAP_MS: process.env.PTM_TEST_WAIT_CAP_MS ?? "180000" },
  });
  if (!existsSync(report)) throw new Error(`${label}: vitest wrote no report (${report})`);
  const json = JSON.parse(readFileSync(report, "utf8")) as {
    testResults: { name: string; status: string; assertionResults: { fullName: string; status: string }[] }[];
  };
  // "file > full name": the same title in two files is two tests.
  const results = json.testResults.flatMap((f) => f.assertionResults.map((r) => ({ ...r, title: `${path.relative(copy, f.name)} > ${r.fullName}` })));
  return {
    files: json.testResults.length,
    passed: results.filter((r) => r.status === "passed").length,
    failed: results.filter((r) => r.status === "failed").length,
    brokenFiles: json.testResults.filter((f) => f.status === "failed" && f.assertionResults.every((r) => r.status !== "failed")).length,
    failedTitles: results.filter((r) => r.status === "failed").map((r) => r.title),
    passedTitles: results.filter((r) => r.status === "passed").map((r) => r.title),
  };
}

function main(): void {
  const argv = process.argv.slice(2);
  const names = argv.filter((a) => !a.startsWith("--"));
  const unknown = names.filter((n) => !BREAKAGES.some((b) => b.name === n));
  if (unknown.length > 0) throw new Error(`unknown breakage(s): ${unknown.join(", ")}; known: ${BREAKAGES.map((b) => b.name).join(", ")}`);
  const chosen = names.length > 0 ? BREAKAGES.filter((b) => names.includes(b.name)) : BREAKAGES;
  const copy = copyTree();
  console.log(`[mutation-check] work tree copied to ${copy}`);
  const rows: string[] = [];
  let missed = 0;
  /** Per name pattern: the tests that pass without any breakage (only they can catch one). */
  const baselines = new Map<string, Set<string>>();
  const patternOf = (b: Breakage) => b.testNamePattern ?? "";
  const inFiles = (titles: Set<string>, files: string[]) => [...titles].filter((t) => files.some((f) => t.startsWith(`${f} > `)));
  try {
    if (!argv.includes("--no-baseline")) {
      // One unbroken run per name pattern, over every file the breakages with that pattern use.
      for (const pattern of new Set(chosen.map(patternOf))) {
        const files = [...new Set(chosen.filter((b) => patternOf(b) === pattern).flatMap((b) => b.tests))];
        const base = runTests(copy, `baseline${pattern ? `-${pattern.replace(/\W+/g, "-")}` : ""}`, files, pattern || undefined);
        baselines.set(pattern, new Set(base.passedTitles));
        // A test that fails unbroken proves nothing about a breakage: it is left out of the counts
        // (and listed), instead of stopping the whole check.
        rows.push(
          `baseline${pattern ? ` (-t "${pattern}")` : ""}: ${base.passed} passed, ${base.failed} failed${base.brokenFiles ? `, ${base.brokenFiles} file(s) did not run` : ""}` +
            base.failedTitles.map((t) => `\n    ! fails without any breakage (not counted): ${t}`).join(""),
        );
      }
    }
    for (const breakage of chosen) {
      const restore = applyEdits(copy, breakage);
      let outcome: Outcome;
      try {
        outcome = runTests(copy, breakage.name, breakage.tests, breakage.testNamePattern);
      } finally {
        restore();
      }
      const baseline = baselines.get(patternOf(breakage));
      const caughtBy = baseline ? outcome.failedTitles.filter((t) => baseline.has(t)) : outcome.failedTitles;
      const caught = caughtBy.length >= TARGET;
      if (!caught) missed++;
      const considered = baseline ? inFiles(baseline, breakage.tests).length : outcome.failed + outcome.passed;
      rows.push(
        `${caught ? "caught" : "MISSED"} ${breakage.name}: ${caughtBy.length} of ${considered} tests failed` +
          `${outcome.brokenFiles ? ` (+${outcome.brokenFiles} file(s) that did not run)` : ""} — ${breakage.what}` +
          caughtBy.map((t) => `\n    ✗ ${t}`).join(""),
      );
    }
  } finally {
    if (argv.includes("--keep")) console.log(`[mutation-check] kept ${copy}`);
    else rmSync(copy, { recursive: true, force: true });
  }
  console.log(`\n[mutation-check] results (target: at least ${TARGET} failing tests per breakage)`);
  for (const row of rows) console.log(`  ${row}`);
  process.exitCode = missed > 0 ? 1 : 0;
}

main();
