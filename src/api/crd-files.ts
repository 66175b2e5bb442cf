import { stringify } from "yaml";
import { allCrds } from "./crds.js";

const HEADER = "# Generated from src/api by `npm run generate:crds`. Do not edit by hand.\n";

/**
 * crds/ file name → file text, exactly as committed. Written as YAML 1.1 so strings such as
 * "on" are quoted: kubectl's YAML 1.1 parser would otherwise read them as booleans.
 */
export function renderCrdFiles(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(allCrds()).map(([file, crd]) => [file, HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false, version: "1.1" })]),
  );
}
