import { randomBytes } from "node:crypto";
import { CoreV1Api, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { FIELD_MANAGER } from "../api/group.js";

export type EventType = "Normal" | "Warning";

/**
 * Records Kubernetes Events about an object. An event is a notification, not state: when the
 * API server refuses one we log it and go on (status, not events, is what the operator relies on).
 */
export class EventRecorder {
  private readonly core: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly logger: Logger,
    private readonly instance: string,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  async record(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const meta = obj.metadata!;
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace: meta.namespace!,
        body: {
          metadata: { name: `${meta.name}.${now.getTime().toString(16)}${randomBytes(3).toString("hex")}`, namespace: meta.namespace! },
          involvedObject: {
            apiVersion: obj.apiVersion!,
            kind: obj.kind!,
            name: meta.name!,
            namespace: meta.namespace!,
            uid: meta.uid!,
            resourceVersion: meta.resourceVersion!,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: FIELD_MANAGER },
          reportingComponent: FIELD_MANAGER,
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (error) {
      this.logger.warn({ err: error, reason, object: `${meta.namespace}/${meta.name}` }, "could not record a Kubernetes event");
    }
  }
}
