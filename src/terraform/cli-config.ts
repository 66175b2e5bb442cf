import { readFileSync } from "node:fs";

/**
 * Whether a tofu/terraform CLI configuration (HCL `.tofurc` or JSON `.tfrc.json` syntax) installs
 * providers from a `filesystem_mirror`. Comments are dropped first, so a commented-out block does
 * not count. A text scan, not a parser: the runner only needs to know whether the block is there.
 */
export function usesFilesystemMirror(cliConfig: string): boolean {
  const code = cliConfig
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .split("\n")
    .map((line) => line.replace(/(?:^|\s)(?:#|\/\/).*$/, ""))
    .join("\n");
  return /\bfilesystem_mirror"?\s*[{:]/.test(code);
}

/** usesFilesystemMirror of a file; an unreadable file counts as no mirror (tofu reports it on its first command). */
export function fileUsesFilesystemMirror(file: string): boolean {
  try {
    return usesFilesystemMirror(readFileSync(file, "utf8"));
  } catch {
    return false;
  }
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go duration as tofu's `-lock-timeout` takes it ("0s", "90s", "1m30s", "500ms"). */
export function parseGoDuration(text: string): number {
  if (text === "0") return 0;
  if (!/^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(text)) {
    throw new TypeError(`invalid duration ${JSON.stringify(text)}: use Go's form, e.g. "0s", "90s", "1m30s"`);
  }
  let ms = 0;
  for (const [, value, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(value) * GO_DURATION_UNITS[unit!]!;
  return ms;
}
