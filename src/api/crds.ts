import { z } from "zod";
import { API_GROUP, API_VERSION, CATEGORY, PROXMOX_CONNECTION, PROXMOX_VM } from "./group.js";
import { ProxmoxConnectionSpecSchema } from "./proxmox-connection.js";
import { ProxmoxVMSpecSchema } from "./proxmox-vm.js";
import { PROXMOX_VM_SET, ProxmoxVMSetSpecSchema, ProxmoxVMSetStatusSchema } from "./proxmox-vm-set.js";
import { ProxmoxConnectionStatusSchema, ProxmoxVMStatusSchema } from "./status.js";

type JsonSchema = { [key: string]: unknown };

const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

/**
 * Turns zod's JSON Schema into a Kubernetes structural schema: drops what the API server does
 * not accept ($schema, propertyNames, additionalProperties: false, JavaScript's safe-integer
 * bounds) and keeps x-kubernetes-* extensions that the zod schemas carry in `.meta()`.
 */
export function toStructural(schema: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "$schema" || key === "propertyNames" || key === "id") continue;
    if (key === "additionalProperties" && value === false) continue;
    if ((key === "minimum" || key === "maximum") && SAFE_INTEGER_BOUNDS.has(value as number)) continue;
    if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchema>).map(([name, child]) => [name, toStructural(child)]),
      );
    } else if (key === "items" || (key === "additionalProperties" && typeof value === "object")) {
      out[key] = toStructural(value as JsonSchema);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function openApiSchema(spec: z.ZodType, status: z.ZodType, specRequired: boolean, rules: object[] = []): JsonSchema {
  return {
    ...(rules.length ? { "x-kubernetes-validations": rules } : {}),
    type: "object",
    properties: {
      apiVersion: { type: "string" },
      kind: { type: "string" },
      metadata: { type: "object" },
      spec: toStructural(z.toJSONSchema(spec, { io: "input", unrepresentable: "throw" }) as JsonSchema),
      status: toStructural(z.toJSONSchema(status, { io: "output", unrepresentable: "throw" }) as JsonSchema),
    },
    ...(specRequired ? { required: ["spec"] } : {}),
  };
}

interface Names {
  kind: string;
  plural: string;
  singular: string;
  shortNames: readonly string[];
}

function crd(names: Names, schema: JsonSchema, printerColumns: object[], subresources: object = { status: {} }): object {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${names.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      scope: "Namespaced",
      names: {
        kind: names.kind,
        listKind: `${names.kind}List`,
        plural: names.plural,
        singular: names.singular,
        shortNames: [...names.shortNames],
        categories: [CATEGORY],
      },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources,
          additionalPrinterColumns: printerColumns,
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

export function proxmoxVMCrd(): object {
  const rules = [
    {
      // The VM name defaults to metadata.name, which may be longer than Proxmox allows.
      rule: "has(self.spec.name) || size(self.metadata.name) <= 63",
      message: "metadata.name is longer than 63 characters: set spec.name to the VM name Proxmox should use",
    },
  ];
  return crd(PROXMOX_VM, openApiSchema(ProxmoxVMSpecSchema, ProxmoxVMStatusSchema, true, rules), [
    { name: "Node", type: "string", jsonPath: ".status.node" },
    { name: "VMID", type: "integer", jsonPath: ".status.vmId" },
    { name: "State", type: "string", jsonPath: ".status.state" },
    { name: "IP", type: "string", jsonPath: ".status.ipAddresses[0]" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ]);
}

export function proxmoxConnectionCrd(): object {
  return crd(PROXMOX_CONNECTION, openApiSchema(ProxmoxConnectionSpecSchema, ProxmoxConnectionStatusSchema, true), [
    { name: "Endpoint", type: "string", jsonPath: ".spec.endpoint" },
    { name: "Version", type: "string", jsonPath: ".status.version" },
    { name: "Nodes", type: "integer", jsonPath: ".status.nodeCount" },
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ]);
}

export function proxmoxVMSetCrd(): object {
  // The scale subresource lets `kubectl scale` and the HorizontalPodAutoscaler set replicas.
  const subresources = { status: {}, scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas", labelSelectorPath: ".status.selector" } };
  return crd(
    PROXMOX_VM_SET,
    openApiSchema(ProxmoxVMSetSpecSchema, ProxmoxVMSetStatusSchema, true, [
      {
        // With the default pattern, the highest ordinal's name must still be a ProxmoxVM name (a
        // general rule with replace() is over the API server's CEL cost budget; other patterns
        // that make too long a name are reported by the set's Ready condition).
        rule: "self.spec.namePattern != '{set}-{ordinal}' || size(self.metadata.name) + 1 + size(string(self.spec.replicas)) <= 63",
        message: "the set's name is too long: <name>-<ordinal> must fit in 63 characters",
      },
    ]),
    [
      { name: "Desired", type: "integer", jsonPath: ".spec.replicas" },
      { name: "Current", type: "integer", jsonPath: ".status.replicas" },
      { name: "Ready", type: "integer", jsonPath: ".status.readyReplicas" },
      { name: "Updated", type: "integer", jsonPath: ".status.updatedReplicas" },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
    subresources,
  );
}

/** File name under crds/ → CRD object. */
export function allCrds(): Record<string, object> {
  return {
    [`${API_GROUP}_${PROXMOX_VM.plural}.yaml`]: proxmoxVMCrd(),
    [`${API_GROUP}_${PROXMOX_CONNECTION.plural}.yaml`]: proxmoxConnectionCrd(),
    [`${API_GROUP}_${PROXMOX_VM_SET.plural}.yaml`]: proxmoxVMSetCrd(),
  };
}
