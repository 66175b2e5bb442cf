import { stringify } from "yaml";
import { allCrds } from "./crds.js";

const HEADER = "# Generated from src/api by `npm run generate:crds`. Do not edit by hand.\n";

/** crds/ file name → file text, exactly as committed. */
export function renderCrdFiles(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(allCrds()).map(([file, crd]) => [file, HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false })]),
  );
}
