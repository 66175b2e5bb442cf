import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guardUnknownRoutes } from "../support/suite-hooks.js";
import { parse as parseYaml } from "yaml";
import { startSimulator, type RunningSimulator } from "../../src/simulator/index.js";
import { ensureCrds } from "../support/operator-harness.js";
import { deleteNamespace, kubectl, uniqueName } from "../support/kube.js";
import { repoRoot } from "../support/paths.js";
import { deleteRedisKeys, dropSchemas } from "../support/platform-data.js";
import { platformEnv } from "../support/platform-env.js";

/**
 * The container image, verified without a Docker engine (none runs here, so the image itself is
 * never built):
 *
 * 1. The Dockerfile and .dockerignore are read by BuildKit's own Dockerfile parser and linter and
 *    Docker's own .dockerignore matcher (the platform's dockerfile-check, source
 *    test/platform/dockerfile-check/main.go), so "it parses" and "the context holds what COPY
 *    needs" are answered by the code a real build runs.
 * 2. The stages are replayed on the host, step by step from that parse: COPY copies from the
 *    filtered build context or from an earlier stage's directory, the build stages' RUN commands
 *    run verbatim in their WORKDIR. The runtime stage's apt-get/useradd are not run (the host
 *    provides setpriv, openssl and uid 65532); its files land under one directory standing for
 *    the image's root, and absolute paths in its ENV and config files point there.
 * 3. The entrypoint runs from that root (dist/ and production dependencies only) as uid 65532,
 *    in a private mount namespace whose root filesystem is read-only except the two volumes the
 *    image expects (/tmp and /var/lib/ptm/work), against the platform's API server, Redis and
 *    PostgreSQL and a simulator: a ProxmoxVM from examples/ becomes Ready and its deletion
 *    destroys the VM.
 */

const IMAGE_UID = 65532;

// ---- 1. BuildKit's parser -----------------------------------------------------------------

interface DockerCommand {
  name: string;
  from?: string;
  sources?: string[];
  heredocs?: Record<string, string>;
  dest?: string;
  args?: string[];
  shell: boolean;
  pairs?: Record<string, string>;
  value?: string;
}

interface DockerStage {
  name: string;
  base: string;
  commands: DockerCommand[];
}

interface ParsedDockerfile {
  metaArgs: Record<string, string>;
  stages: DockerStage[];
  warnings: string[];
  contextFiles: string[];
}

function expandArgs(text: string, args: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => args[(a ?? b)!] ?? "");
}

/** Compares dotted release numbers ("1.26.6" vs "1.26"): negative, zero or positive. */
function compareVersions(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split(".").map(Number));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) {
    const d = (x![i] ?? 0) - (y![i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function unquote(value: string): string {
  return value.replace(/^"(.*)"$/s, "$1");
}

let scratch: string;
let parsed: ParsedDockerfile;
const stageNamed = (name: string) => parsed.stages.find((s) => s.name === name)!;
const finalStage = () => parsed.stages[parsed.stages.length - 1]!;

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), "ptm-image-"));
  const checker = platformEnv().DOCKERFILE_CHECK_BIN;
  if (!checker) throw new Error(".platform/env does not set DOCKERFILE_CHECK_BIN: run scripts/platform up");
  const run = spawnSync(checker, [path.join(repoRoot, "Dockerfile"), repoRoot], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`the Dockerfile does not parse: ${run.stderr}`);
  parsed = JSON.parse(run.stdout) as ParsedDockerfile;
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("Dockerfile, as BuildKit reads it", () => {
  it("parses without lint warnings into the Go, build, production-dependency and runtime stages", () => {
    expect(parsed.warnings).toEqual([]);
    expect(parsed.stages.map((s) => s.name)).toEqual(["tools", "build", "prod-deps", "simulator", "runtime"]);
    const bases = Object.fromEntries(parsed.stages.map((s) => [s.name, expandArgs(s.base, parsed.metaArgs)]));
    const nodeBase = parsed.metaArgs.NODE_IMAGE!;
    expect(bases).toEqual({ tools: parsed.metaArgs.GO_IMAGE, build: nodeBase, "prod-deps": nodeBase, simulator: nodeBase, runtime: nodeBase });
    // COPY --from names only stages defined before it.
    parsed.stages.forEach((stage, index) => {
      for (const c of stage.commands.filter((c) => c.from)) {
        expect(parsed.stages.slice(0, index).map((s) => s.name), `${stage.name}: COPY --from=${c.from}`).toContain(c.from);
      }
    });
  });

  it("pins both base images to an exact release by digest, as new as the code needs", () => {
    const pinned = /^(?<image>[a-z]+):(?<version>\d+\.\d+\.\d+)-(?<variant>[a-z-]+)@sha256:[0-9a-f]{64}$/;
    const go = pinned.exec(parsed.metaArgs.GO_IMAGE ?? "")?.groups;
    const node = pinned.exec(parsed.metaArgs.NODE_IMAGE ?? "")?.groups;
    expect(go, `GO_IMAGE ${parsed.metaArgs.GO_IMAGE} is image:x.y.z-variant@sha256:<digest>`).toBeDefined();
    expect(node, `NODE_IMAGE ${parsed.metaArgs.NODE_IMAGE} is image:x.y.z-variant@sha256:<digest>`).toBeDefined();
    expect([go!.image, go!.variant, node!.image, node!.variant]).toEqual(["golang", "bookworm", "node", "bookworm-slim"]);
    const [goVersion, nodeVersion] = [go!.version!, node!.version!];
    // The Go release builds every wrapper module without fetching a toolchain: not older than any `go` line.
    const goLines = ["tofu", "provider"].map((m) => /^go (\S+)$/m.exec(readFileSync(path.join(repoRoot, "test/platform", m, "go.mod"), "utf8"))![1]!);
    for (const needed of goLines) expect(compareVersions(goVersion, needed), `golang ${goVersion} >= go ${needed}`).toBeGreaterThanOrEqual(0);
    // The Node release satisfies package.json's engines (">=x.y" or ">=x.y.z") within its major.
    const engines = (JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { engines: { node: string } }).engines.node;
    const minimum = /^>=(\d+(?:\.\d+){1,2})$/.exec(engines)?.[1];
    expect(minimum, `engines.node ${engines}`).toBeDefined();
    expect(nodeVersion.split(".")[0]).toBe(minimum!.split(".")[0]);
    expect(compareVersions(nodeVersion, minimum!)).toBeGreaterThanOrEqual(0);
  });

  it("builds tofu and the provider with scripts/build-tools from the pinned wrapper modules", () => {
    const tools = stageNamed("tools");
    const copied = tools.commands.filter((c) => c.name === "COPY").flatMap((c) => c.sources ?? []);
    expect(copied.sort()).toEqual(["scripts/build-tools", "test/platform/provider/go.mod", "test/platform/provider/go.sum", "test/platform/tofu/go.mod", "test/platform/tofu/go.sum"]);
    const run = tools.commands.find((c) => c.name === "RUN")!.args!.join(" ");
    expect(run).toMatch(/scripts\/build-tools --only tofu,provider --out /);
  });

  it("gives the runtime stage the user, entrypoint, environment and labels the image promises", () => {
    const runtime = finalStage();
    const last = (name: string) => runtime.commands.filter((c) => c.name === name).at(-1);
    expect(last("USER")?.value).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(last("ENTRYPOINT")).toEqual(expect.objectContaining({ args: ["node", "dist/src/main.js"], shell: false }));
    expect(last("CMD")).toEqual(expect.objectContaining({ args: ["--role", "all"], shell: false }));
    const env = Object.assign({}, ...runtime.commands.filter((c) => c.name === "ENV").map((c) => c.pairs)) as Record<string, string>;
    expect(env).toEqual(expect.objectContaining({
      NODE_ENV: "production",
      HOME: "/tmp",
      TOFU_BIN: "/usr/local/bin/tofu",
      TF_CLI_CONFIG_FILE: "/etc/ptm/tofurc",
      PTM_WORKDIR_ROOT: "/var/lib/ptm/work",
    }));
    const labels = Object.assign({}, ...runtime.commands.filter((c) => c.name === "LABEL").map((c) => c.pairs)) as Record<string, string>;
    for (const key of ["title", "description", "licenses", "version", "revision"]) {
      expect(labels[`org.opencontainers.image.${key}`], key).toBeTruthy();
    }
    expect(unquote(labels["org.opencontainers.image.licenses"]!)).toBe(JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")).license);
    const installs = runtime.commands.filter((c) => c.name === "RUN").map((c) => c.args!.join(" ")).join("\n");
    // setpriv (util-linux) gives tofu its parent-death signal; openssl (the simulator's certificate) is the simulator target's.
    expect(installs).toMatch(/apt-get install [^\n]*\butil-linux\b/);
    expect(installs).not.toMatch(/\bopenssl\b/);
    expect(stageNamed("simulator").commands.filter((c) => c.name === "RUN").map((c) => c.args!.join(" ")).join("\n")).toMatch(/apt-get install [^\n]*\bopenssl\b/);
    expect(installs).toMatch(/command -v setpriv/);
    // Only build output and production dependencies reach the runtime stage from the Node stages.
    const fromStages = runtime.commands.filter((c) => c.from).map((c) => `${c.from}:${c.sources!.join(",")}`);
    expect(fromStages.sort()).toEqual(["build:/app/dist", "prod-deps:/app/node_modules", "tools:/src/out/bin/tofu", "tools:/src/out/providers"]);
  });

  it("copies only files that exist and that .dockerignore lets into the build context", () => {
    const context = new Set(parsed.contextFiles);
    const underContext = (p: string) => parsed.contextFiles.filter((f) => f === p || f.startsWith(`${p}/`));
    for (const stage of parsed.stages) {
      for (const c of stage.commands.filter((c) => c.name === "COPY" && !c.from)) {
        for (const source of c.sources ?? []) {
          const onDisk = path.join(repoRoot, source);
          expect(existsSync(onDisk), `${stage.name}: COPY ${source} exists`).toBe(true);
          if (statSync(onDisk).isDirectory()) expect(underContext(source).length, `${stage.name}: COPY ${source}/ has files in the context`).toBeGreaterThan(0);
          else expect(context.has(source), `${stage.name}: COPY ${source} is in the context`).toBe(true);
        }
      }
    }
    // What must never reach a builder: dependencies and build output of this machine, git
    // history, the platform's keys and database, test artifacts, local compose settings.
    for (const prefix of ["node_modules/", "dist/", ".git/", ".platform/", "test/artifacts/", "bench/results/", "compose/"]) {
      expect(parsed.contextFiles.filter((f) => f.startsWith(prefix)), prefix).toEqual([]);
    }
    expect(parsed.contextFiles.filter((f) => f.endsWith(".test.ts"))).toEqual([]);
    expect(context.has("src/main.ts") && context.has("src/http/public/index.html")).toBe(true);
  });
});

// ---- 2. The stages, replayed on the host --------------------------------------------------

/** Copies `from` (file or directory) to `to` with Docker's COPY rules for one source. */
function copyEntry(from: string, to: string, destIsDir: boolean): void {
  if (statSync(from).isDirectory()) {
    mkdirSync(to, { recursive: true });
    cpSync(from, to, { recursive: true });
  } else {
    const target = destIsDir ? path.join(to, path.basename(from)) : to;
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(from, target);
    chmodSync(target, statSync(from).mode & 0o7777);
  }
}

interface ReplayedImage {
  /** The directory standing for the runtime image's root filesystem. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: { uid: number; gid: number };
  argv: string[];
}

/** The image targets, replayed: the default (runtime) and the simulator's. */
function replayStages(stagesDir: string): { runtime: ReplayedImage; simulator: ReplayedImage } {
  const stageRoot = (name: string) => path.join(stagesDir, name);
  const images: Record<string, ReplayedImage> = {};
  for (const stage of parsed.stages) {
    const root = stageRoot(stage.name);
    const isFinal = stage === finalStage() || stage.name === "simulator";
    const inStage = (p: string) => path.join(root, p);
    mkdirSync(root, { recursive: true });
    let workdir = "/";
    const env: Record<string, string> = {};
    let user = "0:0";
    let entrypoint: string[] = [];
    let cmd: string[] = [];
    for (const c of stage.commands) {
      switch (c.name) {
        case "WORKDIR":
          workdir = path.posix.resolve(workdir, c.value!);
          mkdirSync(inStage(workdir), { recursive: true });
          break;
        case "ENV":
          Object.assign(env, c.pairs);
          break;
        case "USER":
          user = c.value!;
          break;
        case "ENTRYPOINT":
          entrypoint = c.args!;
          break;
        case "CMD":
          cmd = c.args!;
          break;
        case "COPY": {
          const dest = inStage(path.posix.resolve(workdir, c.dest!));
          if (c.heredocs) {
            for (const data of Object.values(c.heredocs)) {
              mkdirSync(path.dirname(dest), { recursive: true });
              // Absolute paths in the file that this stage created now live under its root.
              writeFileSync(dest, data.replace(/"(\/[^"]*)"/g, (m, p: string) => (existsSync(inStage(p)) ? `"${inStage(p)}"` : m)));
            }
            break;
          }
          const sources = c.sources ?? [];
          const destIsDir = c.dest!.endsWith("/") || sources.length > 1;
          for (const source of sources) {
            if (c.from) {
              copyEntry(path.join(stageRoot(c.from), source), dest, destIsDir);
              continue;
            }
            // From the build context: only what .dockerignore lets through.
            const files = parsed.contextFiles.filter((f) => f === source || f.startsWith(`${source}/`));
            if (files.length === 0) throw new Error(`${stage.name}: COPY ${source}: not in the build context`);
            for (const file of files) {
              const target = file === source ? (destIsDir ? path.join(dest, path.basename(file)) : dest) : path.join(dest, file.slice(source.length + 1));
              mkdirSync(path.dirname(target), { recursive: true });
              copyFileSync(path.join(repoRoot, file), target);
              chmodSync(target, statSync(path.join(repoRoot, file)).mode & 0o7777);
            }
          }
          break;
        }
        case "RUN": {
          const script = c.args!.join(" ");
          if (isFinal) {
            // Package installs and user creation are the base image's business; the directories
            // the stage prepares for its user are made here as it makes them.
            for (const m of script.matchAll(/mkdir -p ((?:\/\S+\s*)+)/g)) for (const dir of m[1]!.trim().split(/\s+/)) mkdirSync(inStage(dir), { recursive: true });
            for (const m of script.matchAll(/chown (\d+):(\d+) (\/\S+)/g)) if (process.getuid?.() === 0) chownSync(inStage(m[3]!), Number(m[1]), Number(m[2]));
            // Links onto the PATH (kubectl-ptm), pointing into this root.
            for (const m of script.matchAll(/ln -s (\/\S+) (\/\S+)/g)) {
              mkdirSync(path.dirname(inStage(m[2]!)), { recursive: true });
              symlinkSync(inStage(m[1]!), inStage(m[2]!));
            }
            break;
          }
          const runEnv: Record<string, string | undefined> = { ...process.env, ...env, npm_config_prefer_offline: "true", npm_config_update_notifier: "false" };
          // The builder's tool cache is a layer of its own; here the host's cache serves, so a
          // tool already built for the platform is not built again.
          delete runEnv.PTM_CACHE_DIR;
          const result = spawnSync("bash", ["-c", script], { cwd: inStage(workdir), env: runEnv, encoding: "utf8", maxBuffer: 64 << 20 });
          if (result.status !== 0) throw new Error(`${stage.name}: RUN ${script} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
          break;
        }
      }
    }
    if (isFinal) {
      const [uid, gid] = user.split(":").map(Number);
      const mapped = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.startsWith("/") ? inStage(v) : v]));
      images[stage.name] = { root, workdir: inStage(workdir), env: mapped, user: { uid: uid!, gid: gid ?? uid! }, argv: [...entrypoint, ...cmd] };
    }
  }
  return { runtime: images.runtime!, simulator: images.simulator! };
}

// ---- 3. Running it --------------------------------------------------------------------------

/**
 * The replay runs processes as the image's user in a private mount namespace, which needs root.
 * CI runs the suite as root; anywhere else these tests fail, saying so, instead of passing
 * without having checked the user and the read-only root.
 */
function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("the image replay needs root (a mount namespace and setpriv to the image's user); run the packaging tests as root, as CI does");
  }
}

/**
 * Starts `argv` in the replayed image: as the image's user, with the root filesystem read-only
 * except the image's two writable volumes (a fresh tmpfs on its /tmp, and /var/lib/ptm/work).
 */
function startInImage(image: ReplayedImage, argv: string[], env: Record<string, string>): ChildProcess {
  const tmp = path.join(image.root, "tmp");
  const work = path.join(image.root, "var/lib/ptm/work");
  const fullEnv = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...image.env, TMPDIR: tmp, ...env };
  requireRoot();
  // `remount,bind,ro` changes this namespace's view of / only, never the filesystem itself.
  const script = 'set -e; mount -t tmpfs -o mode=1777 tmpfs "$1"; mount --bind "$2" "$2"; mount -o remount,bind,ro /; cd "$3"; shift 3; exec "$@"';
  const setpriv = ["setpriv", `--reuid=${image.user.uid}`, `--regid=${image.user.gid}`, "--clear-groups", "--"];
  return spawn("unshare", ["--mount", "--propagation", "private", "--", "bash", "-c", script, "bash", tmp, work, image.workdir, ...setpriv, ...argv], {
    env: fullEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Collects a child's output; `waitFor` resolves with the first line, seen or still to come, that matches. */
class Output {
  text = "";
  private readonly lines: string[] = [];
  private exited: string | undefined;
  private waiters: { test: (line: string) => boolean; resolve: (line: string) => void; reject: (error: Error) => void }[] = [];

  constructor(child: ChildProcess) {
    let partial = "";
    const onData = (chunk: Buffer) => {
      this.text += chunk.toString();
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code, signal) => {
      this.exited = `exited (${code ?? signal}) before the expected line:\n${this.text}`;
      for (const w of this.waiters) w.reject(new Error(this.exited));
      this.waiters = [];
    });
  }

  waitFor(test: (line: string) => boolean, timeoutMs = 120_000): Promise<string> {
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching output within ${timeoutMs} ms:\n${this.text}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }
}

/** A pino JSON line with this `msg`. */
function logLine(msg: string) {
  return (line: string) => {
    try {
      return (JSON.parse(line) as { msg?: string }).msg === msg;
    } catch {
      return false;
    }
  };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

function httpsGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers, rejectUnauthorized: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on("error", reject)
      .end();
  });
}

describe("the runtime layout, replayed from the Dockerfile and run as the image runs", () => {
  let image: ReplayedImage;
  let simulatorImage: ReplayedImage;
  const namespace = uniqueName("image");
  const prefix = `img${process.pid}`;
  const dbSchema = `img_${process.pid}`;
  const stateSchema = `img_state_${process.pid}`;
  let sim: RunningSimulator | undefined;
  guardUnknownRoutes(() => [sim]);
  let operator: ChildProcess | undefined;
  let simulatorCli: ChildProcess | undefined;

  beforeAll(async () => {
    ({ runtime: image, simulator: simulatorImage } = replayStages(path.join(scratch, "stages")));
    for (const dir of [scratch, path.join(scratch, "stages"), image.root, simulatorImage.root]) chmodSync(dir, 0o755);
    for (const root of [image.root, simulatorImage.root]) mkdirSync(path.join(root, "tmp"), { mode: 0o1777 });
    // compose mounts the kubeconfig at /etc/ptm/kubeconfig; the image's user must read it.
    const kubeconfig = path.join(image.root, "etc/ptm/kubeconfig");
    copyFileSync(platformEnv().KUBECONFIG, kubeconfig);
    requireRoot();
    chownSync(kubeconfig, image.user.uid, image.user.gid);
    chmodSync(kubeconfig, 0o400);
  }, 900_000);

  afterAll(async () => {
    await stop(operator);
    await stop(simulatorCli);
    await sim?.close();
    await deleteNamespace(namespace);
    await dropSchemas(dbSchema, stateSchema);
    await deleteRedisKeys(prefix);
  });

  it("holds dist/, production dependencies, tofu and the provider mirror, and no dev tooling", () => {
    const app = image.workdir;
    expect(existsSync(path.join(app, "dist/src/main.js"))).toBe(true);
    // The simulator is a target of its own, not part of the operator's image.
    expect(existsSync(path.join(app, "dist/src/simulator"))).toBe(false);
    expect(existsSync(path.join(app, "dist/src/http/public/index.html"))).toBe(true);
    expect(existsSync(path.join(app, "node_modules/@kubernetes/client-node"))).toBe(true);
    for (const dev of ["typescript", "tsx", "vitest", "eslint", "playwright-core"]) {
      expect(existsSync(path.join(app, "node_modules", dev)), dev).toBe(false);
    }
    expect(existsSync(path.join(app, "src"))).toBe(false);
    const version = spawnSync(image.env.TOFU_BIN!, ["version", "-json"], { encoding: "utf8", env: { ...image.env, PATH: "/usr/bin:/bin" } });
    expect(version.stderr).toBe("");
    expect((JSON.parse(version.stdout) as { terraform_version: string }).terraform_version).toBe(platformEnv().PTM_TOFU_VERSION);
    const pv = platformEnv().PTM_PROVIDER_VERSION;
    const platform = `linux_${process.arch === "x64" ? "amd64" : process.arch}`;
    for (const host of ["registry.opentofu.org", "registry.terraform.io"]) {
      expect(existsSync(path.join(image.root, `opt/ptm/providers/${host}/bpg/proxmox/${pv}/${platform}/terraform-provider-proxmox_v${pv}`)), host).toBe(true);
    }
    const tofurc = readFileSync(image.env.TF_CLI_CONFIG_FILE!, "utf8");
    expect(tofurc).toContain(`path    = "${path.join(image.root, "opt/ptm/providers")}"`);
    expect(tofurc).toMatch(/direct\s*\{\s*exclude/);
  });

  it("starts processes as the image's user, with only /tmp and the work volume writable", async () => {
    const probe = [
      "id -u",
      `touch ${image.workdir}/probe 2>/dev/null && echo app-writable || echo app-read-only`,
      `touch ${os.tmpdir()}/ptm-image-probe-$$ 2>/dev/null && echo host-tmp-writable || echo host-tmp-read-only`,
      'touch "$TMPDIR/probe" && echo tmp-writable',
      `touch ${image.env.PTM_WORKDIR_ROOT}/probe && echo work-writable`,
    ].join("; ");
    const child = startInImage(image, ["bash", "-c", probe], {});
    const out = new Output(child);
    await new Promise((resolve) => child.once("exit", resolve));
    expect(out.text.trim().split("\n")).toEqual([String(IMAGE_UID), "app-read-only", "host-tmp-read-only", "tmp-writable", "work-writable"]);
  });

  it("runs the simulator from its image target with the token compose gives it", async () => {
    const compose = parseYaml(readFileSync(path.join(repoRoot, "compose/compose.yaml"), "utf8")) as { services: { simulator: { entrypoint: string[]; command: string[] } } };
    const { entrypoint, command } = compose.services.simulator;
    // compose's defaults for its variables; a free port; the state file in the work volume.
    const args = command
      .map((a) => a.replace(/\$\{\w+:-([^}]*)\}/g, "$1"))
      .map((a) => (a.startsWith("--port=") ? "--port=0" : a.startsWith("--host=") ? "--host=127.0.0.1" : a))
      .map((a) => (a.startsWith("--state-file=/") ? `--state-file=${path.join(simulatorImage.root, a.slice("--state-file=".length))}` : a));
    const token = args.find((a) => a.startsWith("--token="))!.slice("--token=".length);
    simulatorCli = startInImage(simulatorImage, [...entrypoint, ...args, "--quiet"], {});
    const out = new Output(simulatorCli);
    const url = (await out.waitFor((l) => l.startsWith("PVE_SIM_URL="))).slice("PVE_SIM_URL=".length);
    const printed = (await out.waitFor((l) => l.startsWith("PVE_SIM_TOKEN="))).slice("PVE_SIM_TOKEN=".length);
    expect(printed).toBe(token);
    const version = await httpsGet(`${url}api2/json/version`, { Authorization: `PVEAPIToken=${token}` });
    expect(version.status).toBe(200);
    expect((JSON.parse(version.body) as { data: { version: string } }).data.version).toMatch(/^\d+\.\d+/);
    await stop(simulatorCli);
    expect(simulatorCli.exitCode).toBe(0);
  });

  it("runs the operator from dist/ and production dependencies alone: a VM becomes Ready, then is destroyed", async () => {
    await ensureCrds();
    sim = await startSimulator({ port: 0, taskDurationMs: 0, log: false, unauthorizedDelayMs: 0 });
    await kubectl(["create", "namespace", namespace]);
    await kubectl(["apply", "-n", namespace, "-f", "-"], JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "v1", kind: "Secret", metadata: { name: "pve-token", labels: { "proxmox.terraform-manager.dev/consumer": "proxmox-terraform-manager" } }, stringData: { token: `PVEAPIToken=${sim.token}` } },
        {
          apiVersion: "proxmox.terraform-manager.dev/v1alpha1",
          kind: "ProxmoxConnection",
          metadata: { name: "pve" },
          spec: { endpoint: sim.url, tokenSecretRef: { name: "pve-token", key: "token" }, insecureSkipTLSVerify: true },
        },
      ],
    }));

    const p = platformEnv();
    operator = startInImage(image, image.argv, {
      REDIS_URL: p.REDIS_URL,
      DATABASE_URL: p.DATABASE_URL,
      KUBECONFIG: path.join(image.root, "etc/ptm/kubeconfig"),
      PTM_NAMESPACE: namespace,
      PTM_QUEUE_PREFIX: prefix,
      PTM_DB_SCHEMA: dbSchema,
      PTM_STATE_SCHEMA: stateSchema,
      PTM_LEADER_ELECTION: "false",
      PTM_SIDECAR_PORT: "0",
      PTM_SIDECAR_HOST: "127.0.0.1",
      PTM_METRICS_PORT: "0",
      PTM_PROVIDER_VERSION: p.PTM_PROVIDER_VERSION,
      PTM_RESYNC_INTERVAL: "30s",
    });
    const out = new Output(operator);
    const sidecarUrl = (JSON.parse(await out.waitFor(logLine("sidecar listening"))) as { url: string }).url;
    const metricsUrl = (JSON.parse(await out.waitFor(logLine("metrics endpoint listening"))) as { url: string }).url;
    const worker = JSON.parse(await out.waitFor(logLine("worker started"))) as { tool: string };
    expect(worker.tool).toBe(`tofu ${p.PTM_TOFU_VERSION}`);
    // The process is node itself (unshare, bash and setpriv exec), running as the image's user.
    const status = readFileSync(`/proc/${operator.pid}/status`, "utf8");
    expect(status).toMatch(new RegExp(`^Uid:\\s+${IMAGE_UID}\\s`, "m"));
    expect(readFileSync(`/proc/${operator.pid}/cmdline`, "utf8").split("\0")).toEqual(expect.arrayContaining(["node", "dist/src/main.js"]));

    await kubectl(["apply", "-n", namespace, "-f", path.join(repoRoot, "examples/vm-small.yaml")]);
    const name = (parseYaml(readFileSync(path.join(repoRoot, "examples/vm-small.yaml"), "utf8")) as { metadata: { name: string } }).metadata.name;
    const ready = await waitForVm(namespace, name, (vm) => vm?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true);
    const vmId = ready!.status!.vmId!;
    expect(vmId).toBeGreaterThanOrEqual(100);
    expect(simVmIds(sim)).toEqual([vmId]);

    // The sidecar serves the status page (static files copied beside dist/), the API and metrics.
    const page = await fetch(`${sidecarUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/<html/i);
    expect((await fetch(`${sidecarUrl}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${sidecarUrl}/api/v1/vms`)).text()).toContain(name);
    expect(await (await fetch(`${sidecarUrl}/metrics`)).text()).toMatch(/^ptm_build_info\{/m);
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);

    // The kubectl plugin on the image's PATH runs from dist/ (the image has no tsx) as the image's user.
    const plugin = startInImage(image, [path.join(image.root, "usr/local/bin/kubectl-ptm"), "get", name, "-n", namespace, "-o", "json", "--server", sidecarUrl], {});
    const pluginOut = new Output(plugin);
    const [pluginCode] = (await once(plugin, "close")) as [number | null];
    expect(pluginOut.text ? JSON.parse(pluginOut.text) : undefined, pluginOut.text).toMatchObject({ namespace, name, vmId, connection: { name: "pve", ready: "True" } });
    expect(pluginCode).toBe(0);

    await kubectl(["delete", "-n", namespace, "pvm", name, "--wait=false"]);
    await waitForVm(namespace, name, (vm) => vm === undefined);
    expect(simVmIds(sim)).toEqual([]);

    if (existsSync(`/proc/${operator.pid}/status`)) {
      const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${operator.pid}/status`, "utf8"))?.[1];
      console.log(`[image.test] peak RSS (VmHWM) of node dist/src/main.js --role all: ${hwm} kB (${(Number(hwm) / 1024).toFixed(0)} MiB)`);
    }
    expect(operator.exitCode).toBeNull();
  }, 300_000);
});

interface VmObject {
  status?: { vmId?: number; conditions?: { type: string; status: string }[] };
}

async function waitForVm(namespace: string, name: string, done: (vm: VmObject | undefined) => boolean, timeoutMs = 180_000): Promise<VmObject | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: VmObject | undefined;
  while (Date.now() < deadline) {
    try {
      last = JSON.parse(await kubectl(["get", "-n", namespace, "pvm", name, "-o", "json"])) as VmObject;
    } catch (error) {
      if (!/NotFound/.test(String(error))) throw error;
      last = undefined;
    }
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ProxmoxVM ${namespace}/${name}; last status: ${JSON.stringify(last?.status)}`);
}

/** The simulator's VM ids, templates left out. */
function simVmIds(sim: RunningSimulator): number[] {
  return Object.values(sim.state().vms)
    .filter((vm) => {
      const conf = (vm as { conf?: Record<string, unknown> }).conf ?? {};
      return conf.template !== 1 && conf.template !== "1";
    })
    .map((vm) => (vm as { vmid: number }).vmid);
}
