import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StateKeySecret } from "../../src/kube/state-key-secret.js";
import { generateStateKey, InvalidStateKey } from "../../src/terraform/state-keys.js";
import { deleteNamespace, kubectl, platformKubeConfig, uniqueName } from "../support/kube.js";

// The workers' state key Secret against the real API server: created once however many workers
// race for it, and a Secret that holds no key says so.
describe("StateKeySecret", () => {
  const namespace = uniqueName("state-key");
  beforeAll(async () => {
    await kubectl(["create", "namespace", namespace]);
  });
  afterAll(() => deleteNamespace(namespace));

  it("creates the Secret once when eight workers find it missing at the same moment; all use its key", async () => {
    const workers = Array.from({ length: 8 }, () => new StateKeySecret(platformKubeConfig(), namespace, "ptm-state-key", generateStateKey));
    const results = await Promise.all(workers.map((w) => w.read()));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.current)).size).toBe(1);
    const stored = await kubectl(["get", "secret", "ptm-state-key", "-n", namespace, "-o", "jsonpath={.data.key}"]);
    expect(Buffer.from(stored, "base64").toString()).toBe(results[0]!.current);
    // Read again later: the same key, nothing created.
    expect(await workers[0]!.read()).toEqual({ current: results[0]!.current, created: false });
  });

  it("reads a rotation's previous key, and refuses a Secret without a key", async () => {
    await kubectl(["create", "secret", "generic", "rotated", "-n", namespace, "--from-literal=key=new", "--from-literal=previous-key=old"]);
    expect(await new StateKeySecret(platformKubeConfig(), namespace, "rotated", generateStateKey).read()).toEqual({ current: "new", previous: "old", created: false });
    await kubectl(["create", "secret", "generic", "keyless", "-n", namespace, "--from-literal=other=x"]);
    const error = await new StateKeySecret(platformKubeConfig(), namespace, "keyless", generateStateKey).read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStateKey);
    expect((error as Error).message).toMatch(/has no "key"/);
  });
});
