import { stringify } from "yaml";
import { allCrds } from "./crds.js";

/**
 * Where the generated CRDs are committed, relative to the repository root: the top-level copy
 * for `kubectl apply`, and the Helm chart's crds/ (Helm installs that directory before templates).
 */
export const CRD_DIRECTORIES = ["crds", "charts/proxmox-terraform-manager/crds"] as const;

const HEADER = "# Generated from src/api by `npm run generate:crds`. Do not edit by hand.\n";

/**
 * CRD file name → file text, exactly as committed. Written as YAML 1.1 so strings such as
 * "on" are quoted: kubectl's YAML 1.1 parser would otherwise read them as booleans.
 */
export function renderCrdFiles(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(allCrds()).map(([file, crd]) => [file, HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false, version: "1.1" })]),
  );
}
