import { describe, expect, it } from "vitest";
import { parseCli } from "./args.js";
import { CliError, EXIT } from "./errors.js";

function usage(argv: string[], env: Record<string, string> = {}): string {
  try {
    parseCli(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.usage);
    return (error as Error).message;
  }
  throw new Error(`parsed: ${argv.join(" ")}`);
}

describe("kubectl-ptm arguments", () => {
  it("take the command, the VM and the flags, with defaults", () => {
    expect(parseCli(["logs", "web", "-n", "lab", "--follow"], {})).toEqual({
      kind: "command",
      command: "logs",
      args: ["web"],
      options: { namespace: "lab", allNamespaces: false, output: "table", follow: true, limit: 20 },
    });
    expect(parseCli(["get", "-A", "-o", "wide"], {})).toMatchObject({ command: "get", args: [], options: { allNamespaces: true, output: "wide" } });
    expect(parseCli(["runs", "web", "--limit", "5"], {})).toMatchObject({ options: { limit: 5 } });
    expect(parseCli(["approve", "web", "--run", "r1"], {})).toMatchObject({ options: { run: "r1" } });
  });

  it("take the sidecar URL and token from flags before the environment, trailing slashes dropped", () => {
    const env = { PTM_SERVER: "http://env:8080/", PTM_TOKEN: "env-token" };
    expect(parseCli(["get"], env)).toMatchObject({ options: { server: "http://env:8080", token: "env-token" } });
    expect(parseCli(["get", "--server", "https://flag/ptm/", "--token", "flag-token"], env)).toMatchObject({ options: { server: "https://flag/ptm", token: "flag-token" } });
    const none = parseCli(["get"], { PTM_SERVER: " ", PTM_TOKEN: "" });
    expect(none.kind === "command" && "server" in none.options).toBe(false);
    expect(none.kind === "command" && "token" in none.options).toBe(false);
  });

  it("answer help for no command, help, --help and help COMMAND", () => {
    expect(parseCli([], {})).toEqual({ kind: "help" });
    expect(parseCli(["help"], {})).toEqual({ kind: "help" });
    expect(parseCli(["help", "logs"], {})).toEqual({ kind: "help", command: "logs" });
    expect(parseCli(["plan", "--help"], {})).toEqual({ kind: "help", command: "plan" });
  });

  it("refuse what they cannot mean, saying why (exit 2)", () => {
    expect(usage(["start", "web"])).toBe('unknown command "start"; commands: get, plan, approve, discard, logs, runs, reconcile, connections, completion');
    expect(usage(["logs"])).toBe("logs needs VM: kubectl ptm logs VM");
    expect(usage(["logs", "a", "b"])).toBe("logs takes one VM, got: a b");
    expect(usage(["connections", "pve"])).toBe("connections takes no arguments, got: pve");
    expect(usage(["get", "--follow"])).toBe("get does not take --follow");
    expect(usage(["reconcile", "web", "--run", "x"])).toBe("reconcile does not take --run");
    expect(usage(["get", "-o", "xml"])).toBe('-o/--output: "xml" is not one of table, wide, json, yaml');
    expect(usage(["get", "-n", "a", "-A"])).toBe("give -n/--namespace or -A/--all-namespaces, not both");
    expect(usage(["runs", "web", "--limit", "0"])).toBe('--limit: an integer from 1 to 500, got "0"');
    expect(usage(["runs", "web", "--limit", "ten"])).toBe('--limit: an integer from 1 to 500, got "ten"');
    expect(usage(["get", "--server", "localhost:8080"])).toBe('--server/PTM_SERVER: "localhost:8080" must be an http:// or https:// URL');
    expect(usage(["get"], { PTM_SERVER: "not a url" })).toBe('--server/PTM_SERVER: "not a url" is not a URL (e.g. http://127.0.0.1:8080)');
    expect(usage(["get", "--bogus"])).toBe("Unknown option '--bogus'; see kubectl ptm --help");
  });
});
