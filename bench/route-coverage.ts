/**
 * Route coverage of the Proxmox API simulator: which routes (method + path template, e.g.
 * `POST /nodes/{node}/qemu/{vmid}/clone`) the bpg provider's own acceptance suite makes the
 * simulator serve that the project's own tests never reach, and the other way round.
 *
 * Two inputs, both recorded by the simulator itself (only served routes count; unknown routes
 * are the unknown-route guard's business):
 *
 * - the acceptance run's output directory (`OUT_DIR` of ../shared/provider-acc/run.sh), whose
 *   `<Test>.calls.json` files are each top-level test's `/_sim/calls`;
 * - one or more route logs: a simulator started with `routeLog` (or with `PVE_SIM_ROUTE_LOG`
 *   in its environment) appends `METHOD /template<TAB>user agent` for every route and client it
 *   serves, so any test run records its coverage without code changes.
 *
 * Usage:
 *   npx tsx bench/route-coverage.ts record --log /tmp/ptm-routes.log -- test/e2e test/simulator/lifecycle.test.ts
 *       runs those vitest files with PVE_SIM_ROUTE_LOG set (add PTM_SKIP_PLATFORM_UP=1 when the
 *       platform is already up); appends to the log
 *   npx tsx bench/route-coverage.ts compare --provider /tmp/acc --operator /tmp/ptm-routes.log [--json]
 *
 * Requests from the provider carry Go's default User-Agent (`Go-http-client/…`); the compare
 * output splits the project's side into routes the provider reached (through tofu, as the
 * operator runs it) and routes only direct API calls reached.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

interface ServedCall {
  method: string;
  route: string;
  clients: string[];
}

/** route key -> top-level acceptance tests that served it */
type ProviderRoutes = Map<string, Set<string>>;
/** route key -> user agents that reached it */
type ProjectRoutes = Map<string, Set<string>>;

const key = (method: string, route: string) => `${method} ${route}`;
const isProvider = (client: string) => client.startsWith("Go-http-client/");

function readProviderCalls(outDir: string): ProviderRoutes {
  const routes: ProviderRoutes = new Map();
  const files = readdirSync(outDir).filter((f) => f.endsWith(".calls.json"));
  if (files.length === 0) throw new Error(`no *.calls.json in ${outDir}: is it the acceptance run's OUT_DIR?`);
  for (const file of files) {
    const test = file.slice(0, -".calls.json".length);
    const text = readFileSync(path.join(outDir, file), "utf8").trim();
    if (!text) continue;
    const calls = (JSON.parse(text) as { data?: ServedCall[] }).data ?? [];
    for (const c of calls) {
      const k = key(c.method, c.route);
      if (!routes.has(k)) routes.set(k, new Set());
      routes.get(k)?.add(test);
    }
  }
  return routes;
}

function readRouteLogs(files: string[]): ProjectRoutes {
  const routes: ProjectRoutes = new Map();
  for (const file of files) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.trim()) continue;
      const [route = "", client = "(none)"] = line.split("\t");
      if (!routes.has(route)) routes.set(route, new Set());
      routes.get(route)?.add(client);
    }
  }
  return routes;
}

function sortedRoutes(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => {
    const [ma = "", ra = ""] = a.split(" ");
    const [mb = "", rb = ""] = b.split(" ");
    return ra.localeCompare(rb) || ma.localeCompare(mb);
  });
}

function compare(providerDir: string, logs: string[], json: boolean): void {
  const provider = readProviderCalls(providerDir);
  const project = readRouteLogs(logs);
  const viaProvider = new Set([...project].filter(([, clients]) => [...clients].some(isProvider)).map(([k]) => k));
  const providerOnly = sortedRoutes([...provider.keys()].filter((k) => !project.has(k)));
  const directOnlyInProject = sortedRoutes([...provider.keys()].filter((k) => project.has(k) && !viaProvider.has(k)));
  const projectOnly = sortedRoutes([...project.keys()].filter((k) => !provider.has(k)));
  const result = {
    providerRoutes: provider.size,
    projectRoutes: project.size,
    projectRoutesViaProvider: viaProvider.size,
    shared: provider.size - providerOnly.length,
    providerOnly: providerOnly.map((route) => ({ route, tests: [...(provider.get(route) ?? [])].sort() })),
    reachedByProjectOnlyDirectly: directOnlyInProject,
    projectOnly,
  };
  if (json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(`routes the acceptance suite made the simulator serve: ${result.providerRoutes}`);
  console.log(`routes the project's recorded tests reached: ${result.projectRoutes} (${result.projectRoutesViaProvider} of them through the provider)`);
  console.log(`shared: ${result.shared}`);
  console.log(`\nonly the acceptance suite (${providerOnly.length}):`);
  for (const r of result.providerOnly) console.log(`  ${r.route}    [${r.tests.slice(0, 4).join(", ")}${r.tests.length > 4 ? `, +${r.tests.length - 4}` : ""}]`);
  console.log(`\nin both, but the project's tests reach them only by direct API calls, never through the provider (${directOnlyInProject.length}):`);
  for (const r of directOnlyInProject) console.log(`  ${r}`);
  console.log(`\nonly the project's tests (${projectOnly.length}):`);
  for (const r of projectOnly) console.log(`  ${r}`);
}

function record(log: string, files: string[]): number {
  if (files.length === 0) throw new Error("record: name the vitest files or directories after --");
  const res = spawnSync("npx", ["vitest", "run", ...files], { stdio: "inherit", env: { ...process.env, PVE_SIM_ROUTE_LOG: path.resolve(log) } });
  return res.status ?? 1;
}

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  const option = (name: string) => {
    const values: string[] = [];
    for (let i = 0; i < rest.length; i++) if (rest[i] === name && rest[i + 1] !== undefined) values.push(rest[i + 1] as string);
    return values;
  };
  if (command === "record") {
    const [log] = option("--log");
    const dash = rest.indexOf("--");
    if (!log || dash === -1) throw new Error("usage: record --log <file> -- <vitest files...>");
    return record(log, rest.slice(dash + 1));
  }
  if (command === "compare") {
    const [providerDir] = option("--provider");
    const logs = option("--operator");
    if (!providerDir || logs.length === 0) throw new Error("usage: compare --provider <acceptance OUT_DIR> --operator <route log>... [--json]");
    compare(providerDir, logs, rest.includes("--json"));
    return 0;
  }
  throw new Error("usage: route-coverage.ts record|compare … (see the comment at the top)");
}

process.exitCode = main(process.argv.slice(2));
