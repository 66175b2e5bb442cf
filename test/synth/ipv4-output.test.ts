import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nonLoopbackIpv4Expression } from "../../stacks/ipv4-addresses-expression.js";
import { tofu, tofuWorkdir } from "../support/tofu.js";

/**
 * The `ipv4_addresses` output's expression, evaluated by real tofu on the shapes the provider
 * reports (a list per interface, loopback included, null before the guest agent answers). A
 * variable stands in for the resource attribute, so no provider or VM is needed.
 */
describe("the ipv4_addresses output expression", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await tofuWorkdir(
      {
        variable: { addresses: { type: "list(list(string))" } },
        output: { ipv4_addresses: { value: nonLoopbackIpv4Expression("var.addresses") } },
      },
      "ptm-ipv4-",
    );
    expect((await tofu(dir, ["init", "-input=false", "-no-color"])).code).toBe(0);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["agent report with loopback", [["127.0.0.1"], ["192.0.2.10", "127.0.0.2"], ["10.0.0.5"]], ["192.0.2.10", "10.0.0.5"]],
    ["an interface without addresses", [["127.0.0.1"], [], null], []],
    ["no report yet (null)", null, []],
    ["no interfaces", [], []],
  ])("%s", async (_name, addresses, expected) => {
    const apply = await tofu(dir, ["apply", "-auto-approve", "-input=false", "-no-color", "-var", `addresses=${JSON.stringify(addresses)}`]);
    expect(apply.stderr).toBe("");
    expect(apply.code).toBe(0);
    const output = await tofu(dir, ["output", "-json", "ipv4_addresses"]);
    expect(JSON.parse(output.stdout)).toEqual(expected);
  });
});
