import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { VmView } from "../../events/views.js";
import { parseCli } from "../args.js";
import { CommandContext } from "../context.js";
import { render } from "../output.js";
import { toVmRow } from "../vm-rows.js";
import { completion } from "./completion.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "ptm-completion-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(shell: string): string {
  let out = "";
  const parsed = parseCli(["completion", shell], {});
  if (parsed.kind !== "command") throw new Error("not a command");
  completion(new CommandContext(parsed.options, { out: (t) => (out += t), err: () => {} }), parsed.args);
  return out;
}

/** Completions bash offers for the words typed so far (the last one being completed). */
function complete(words: string[]): string[] {
  const file = path.join(dir, "completion.bash");
  writeFileSync(file, script("bash"));
  const program = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kubectl_ptm; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = execFileSync("bash", ["-c", program, "bash", file, ...words], { encoding: "utf8", env: { PATH: `${dir}:${process.env.PATH}` } });
  return out.split("\n").filter(Boolean);
}

describe("completion", () => {
  it("completes commands, flags and output formats", () => {
    expect(complete(["kubectl-ptm", "lo"])).toEqual(["logs"]);
    expect(complete(["kubectl-ptm", "get", "-o", ""])).toEqual(["table", "wide", "json", "yaml"]);
    expect(complete(["kubectl-ptm", "logs", "web", "--fo"])).toEqual(["--follow"]);
    expect(complete(["kubectl-ptm", "completion", ""])).toEqual(["bash", "zsh"]);
  });

  it("completes VM names from `kubectl-ptm get -o json`, in the namespace given", () => {
    const vm = (name: string): VmView => ({ namespace: "lab", name, uid: name, generation: 1, creationTimestamp: null, nodeName: "pve1", connectionName: "pve", status: {} });
    const json = render("json", { items: [toVmRow(vm("web-1"), []), toVmRow(vm("web-2"), []), toVmRow(vm("db"), [])] }, () => "");
    // A stand-in kubectl-ptm on the PATH that prints what the real one prints, for -n lab only.
    writeFileSync(path.join(dir, "vms.json"), json);
    writeFileSync(path.join(dir, "kubectl-ptm"), `#!/bin/sh\n[ "$*" = "get -o json -n lab" ] && cat "${dir}/vms.json"\n`);
    chmodSync(path.join(dir, "kubectl-ptm"), 0o755);
    expect(complete(["kubectl-ptm", "logs", "-n", "lab", "we"])).toEqual(["web-1", "web-2"]);
    expect(complete(["kubectl-ptm", "plan", "-n", "other", ""])).toEqual([]);
  });

  it("gives zsh the same through bashcompinit", () => {
    expect(script("zsh")).toMatch(/^autoload -U \+X bashcompinit && bashcompinit\n/);
    expect(script("zsh")).toContain("complete -F _kubectl_ptm kubectl-ptm");
    execFileSync("bash", ["-n"], { input: script("bash") });
  });
});
