/**
 * Events do not hold up their caller: `record` queues and returns; events of one object still
 * reach the API server in the order recorded, and beyond the bound new ones are dropped, not
 * queued without limit. Against the platform's kube-apiserver.
 */
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventRecorder } from "../../src/kube/event-recorder.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { deleteNamespace, kubectl, platformKubeConfig, uniqueName } from "../support/kube.js";

const namespace = uniqueName("events");
const kc = platformKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const logger = createLogger("silent");

function subject(name: string, uid: string) {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace, name, uid, resourceVersion: "1" } };
}

async function messagesOf(uid: string): Promise<string[]> {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.uid=${uid}` });
  // The API server's resourceVersion orders creations (etcd revisions grow).
  return list.items.sort((a, b) => Number(a.metadata?.resourceVersion) - Number(b.metadata?.resourceVersion)).map((e) => e.message ?? "");
}

describe("EventRecorder", () => {
  beforeAll(async () => {
    await kubectl(["create", "namespace", namespace]);
  });
  afterAll(() => deleteNamespace(namespace));

  it("keeps each object's events in the order recorded while sending several objects' at once", async () => {
    const recorder = new EventRecorder(kc, logger, "test", { concurrency: 4 });
    const objects = [subject("a", "00000000-0000-4000-8000-00000000000a"), subject("b", "00000000-0000-4000-8000-00000000000b")];
    for (let i = 0; i < 12; i++) for (const obj of objects) void recorder.record(obj, "Normal", "Step", `${obj.metadata.name} step ${i}`);
    await recorder.flush();
    for (const obj of objects) {
      expect(await messagesOf(obj.metadata.uid)).toEqual(Array.from({ length: 12 }, (_, i) => `${obj.metadata.name} step ${i}`));
    }
  });

  it("drops what exceeds its bound instead of queueing it", async () => {
    const recorder = new EventRecorder(kc, logger, "test", { maxPending: 5, concurrency: 1 });
    const obj = subject("c", "00000000-0000-4000-8000-00000000000c");
    for (let i = 0; i < 20; i++) void recorder.record(obj, "Warning", "Burst", `burst ${i}`);
    await recorder.flush();
    expect(await messagesOf(obj.metadata.uid)).toEqual(["burst 0", "burst 1", "burst 2", "burst 3", "burst 4"]);
  });
});
