import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../support/paths.js";
import { platformEnv } from "../support/platform-env.js";

/** The chart under test, and the values files its tests use (not packaged: .helmignore). */
export const chartDir = path.join(repoRoot, "charts", "proxmox-terraform-manager");
/** Your own Redis and PostgreSQL instead of the bundled ones: enabled=false and their URLs (placeholder hosts). */
export const requiredValuesFile = path.join(chartDir, "ci", "default-values.yaml");
export const namespacedValuesFile = path.join(chartDir, "ci", "namespaced-values.yaml");

export interface HelmResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** A rendered Kubernetes object, loosely typed: tests read what they assert. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/**
 * Runs the platform's helm (HELM_BIN) with the platform's kubeconfig. Never rejects on a helm
 * failure: callers assert on the exit code and stderr. Helm's cache, config and data directories
 * are kept out of the user's home so tests leave nothing behind there.
 */
export async function helm(args: string[]): Promise<HelmResult> {
  const env = platformEnv();
  const helmBin = env.HELM_BIN;
  if (!helmBin) throw new Error(".platform/env has no HELM_BIN: run scripts/platform up (it builds helm)");
  const helmHome = path.join(tmpdir(), "ptm-helm-home");
  return new Promise((resolve) => {
    execFile(
      helmBin,
      args,
      {
        env: {
          ...process.env,
          ...env,
          HELM_CACHE_HOME: path.join(helmHome, "cache"),
          HELM_CONFIG_HOME: path.join(helmHome, "config"),
          HELM_DATA_HOME: path.join(helmHome, "data"),
        },
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ stdout, stderr, code });
      },
    );
  });
}

/**
 * The Kubernetes version to render for: the platform's API server. Helm built from source without
 * the release ldflags assumes v1.20 for `helm template`, below the chart's kubeVersion.
 */
export function kubeVersion(): string {
  return platformEnv().PTM_KUBE_VERSION ?? "1.36.3";
}

export interface RenderOptions {
  namespace?: string;
  releaseName?: string;
  /** Start from ci/default-values.yaml (external Redis and PostgreSQL URLs). Default true; false = the bundled ones. */
  withRequiredValues?: boolean;
}

/** Writes `values` to a temporary file for `helm -f`, runs `use`, removes the file. */
export async function withValuesFile<T>(values: object, use: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "ptm-chart-values-"));
  try {
    const file = path.join(dir, "values.json");
    // JSON is YAML: helm reads it as a values file.
    await writeFile(file, JSON.stringify(values));
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The `-f` arguments for `values` on top of the required values (unless told otherwise). */
function valuesArgs(file: string, withRequired: boolean): string[] {
  return [...(withRequired ? ["-f", requiredValuesFile] : []), "-f", file];
}

/** `helm template` of the chart with `values` (see renderChart); the raw result, for asserting failures. */
export async function templateChart(values: object, opts: RenderOptions = {}): Promise<HelmResult> {
  const namespace = opts.namespace ?? "ptm-system";
  const releaseName = opts.releaseName ?? "ptm";
  return withValuesFile(values, (file) =>
    helm(["template", releaseName, chartDir, "--namespace", namespace, "--kube-version", kubeVersion(), ...valuesArgs(file, opts.withRequiredValues ?? true)]),
  );
}

/**
 * `helm template` of the chart with `values` merged over values.yaml (and, by default, over the
 * required URLs of ci/default-values.yaml); returns the rendered objects, CRDs excluded. Rejects
 * with helm's message when rendering fails (a schema error names the value).
 */
export async function renderChart(values: object, opts: RenderOptions = {}): Promise<Manifest[]> {
  const result = await templateChart(values, opts);
  if (result.code !== 0) throw new Error(`helm template failed (exit ${result.code}): ${result.stderr.trim()}`);
  return parseManifests(result.stdout);
}

/** Multi-document YAML → objects, skipping empty documents. */
export function parseManifests(text: string): Manifest[] {
  const objects: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value) objects.push(value);
  }
  return objects;
}

/** The one object of `kind` whose name ends with `suffix`; throws naming what exists otherwise. */
export function findObject(objects: Manifest[], kind: string, suffix = ""): Manifest {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(suffix));
  if (found.length !== 1) {
    const names = objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
    throw new Error(`expected one ${kind} named *${suffix}, found ${found.length} among: ${names.join(", ") || "none"}`);
  }
  return found[0]!;
}

/** The names of the bundled Redis and PostgreSQL objects (StatefulSet, Service, Secret) of a release. */
export function bundledNames(release: string): { redis: string; postgresql: string } {
  const fullname = (release.includes("proxmox-terraform-manager") ? release : `${release}-proxmox-terraform-manager`).slice(0, 44).replace(/-+$/, "");
  // At most 52 characters (a StatefulSet's revision-hash label): the chart shortens the prefix.
  return { redis: `${fullname}-redis`, postgresql: `${fullname.slice(0, 41).replace(/-+$/, "")}-postgresql` };
}

/** A Secret's data, decoded. */
export function decodedData(secret: { data?: Record<string, string> }): Record<string, string> {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
}
