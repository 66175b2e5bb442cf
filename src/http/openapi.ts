import { RUN_EVENTS_DEFAULT_LIMIT, RUN_EVENTS_MAX_LIMIT, RUNS_DEFAULT_LIMIT, RUNS_MAX_LIMIT } from "./query.js";

/** The sidecar's API as OpenAPI 3.1, served at /api/v1/openapi.json. Keep it in step with routes.ts (a test compares them). */
export function openApiDocument(version: string): Record<string, unknown> {
  const error = { $ref: "#/components/responses/Error" };
  const unauthorized = { $ref: "#/components/responses/Unauthorized" };
  const ns = { name: "namespace", in: "query", required: false, schema: { type: "string", maxLength: 63 }, description: "Only this namespace." };
  const name = { name: "name", in: "query", required: false, schema: { type: "string", maxLength: 253 }, description: "Only VMs (or their runs) of this name." };
  const runId = { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } };
  const json = (schema: object) => ({ "application/json": { schema } });
  return {
    openapi: "3.1.0",
    info: {
      title: "Proxmox Terraform Manager sidecar",
      version,
      description:
        "Read-only views of ProxmoxVMs, their Terraform runs and the ProxmoxConnections' health, a resumable Server-Sent-Events stream and one admin action. " +
        "When PTM_SIDECAR_READ_TOKEN is set every /api/v1 endpoint except this document needs `Authorization: Bearer <token>` " +
        "(the SSE endpoint also accepts the read token as `?access_token=`, as EventSource cannot send headers; the admin token is refused in a URL). " +
        "Changes always need PTM_SIDECAR_ADMIN_TOKEN. An SSE stream ends after PTM_SSE_MAX_LIFETIME: reconnect with Last-Event-ID. " +
        "Errors are `{ \"error\": { \"code\", \"message\" } }`. See docs/sidecar.md.",
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" }, accessToken: { type: "apiKey", in: "query", name: "access_token" } },
      responses: {
        Error: { description: "Bad request (400) or not found (404).", content: json({ $ref: "#/components/schemas/Error" }) },
        Unauthorized: { description: "A bearer token is needed (401) or it may not do this (403).", content: json({ $ref: "#/components/schemas/Error" }) },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: { error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } } },
        },
        Condition: {
          type: "object",
          required: ["type", "status", "reason", "message", "lastTransitionTime"],
          properties: {
            type: { type: "string" },
            status: { enum: ["True", "False", "Unknown"] },
            reason: { type: "string" },
            message: { type: "string" },
            lastTransitionTime: { type: "string", format: "date-time" },
            observedGeneration: { type: "integer" },
          },
        },
        VmView: {
          type: "object",
          required: ["namespace", "name", "uid", "generation", "creationTimestamp", "nodeName", "connectionName", "status"],
          properties: {
            namespace: { type: "string" },
            name: { type: "string" },
            uid: { type: "string" },
            generation: { type: "integer" },
            creationTimestamp: { type: ["string", "null"], format: "date-time" },
            nodeName: { type: ["string", "null"], description: "spec.nodeName" },
            connectionName: { type: ["string", "null"], description: "spec.connectionRef.name: the ProxmoxConnection in the VM's namespace" },
            status: {
              type: "object",
              properties: {
                state: { type: "string", description: "Pending, Provisioning, Running, Stopped, Failed, Deleting" },
                vmId: { type: "integer" },
                node: { type: "string" },
                ipAddresses: { type: "array", items: { type: "string" } },
                observedGeneration: { type: "integer" },
                conditions: { type: "array", items: { $ref: "#/components/schemas/Condition" } },
                lastRun: {
                  type: "object",
                  required: ["id", "action", "result"],
                  properties: {
                    id: { type: "string" },
                    action: { enum: ["plan", "apply", "destroy"] },
                    result: { type: "string" },
                    startedAt: { type: "string", format: "date-time" },
                    finishedAt: { type: "string", format: "date-time" },
                  },
                },
                pendingPlan: {
                  type: "object",
                  description: "A plan that waits for approval. POST .../approve applies exactly it; GET /api/v1/runs/{runId}/plan has its whole diff.",
                  required: ["runId", "specHash", "approveWith", "summary", "changes"],
                  properties: {
                    runId: { type: "string", format: "uuid" },
                    specHash: { type: "string" },
                    approveWith: { type: "string", description: "The approve annotation's value that applies this plan." },
                    summary: { type: "string" },
                    changes: { type: "array", items: { type: "string" }, description: 'Up to 10 lines like "memory.dedicated: 2048 → 3072".' },
                  },
                },
              },
            },
          },
        },
        ConnectionView: {
          type: "object",
          description: "A ProxmoxConnection and how its last check went. Never the token's secret or the Secret references.",
          required: ["namespace", "name", "endpoint", "version", "ready", "nodeCount", "nodesOnline", "lastCheckTime"],
          properties: {
            namespace: { type: "string" },
            name: { type: "string" },
            endpoint: { type: "string", description: "spec.endpoint" },
            version: { type: ["string", "null"], description: "The Proxmox VE version the last check read." },
            ready: {
              type: "object",
              required: ["status", "reason", "message", "lastTransitionTime"],
              description: "The Ready condition: Connected, AuthenticationFailed, PermissionDenied, Unreachable, TLSError, SecretNotFound, ...; Unknown/NotChecked before the first check.",
              properties: {
                status: { enum: ["True", "False", "Unknown"] },
                reason: { type: "string" },
                message: { type: "string" },
                lastTransitionTime: { type: ["string", "null"], format: "date-time" },
              },
            },
            nodeCount: { type: ["integer", "null"] },
            nodesOnline: { type: ["integer", "null"], description: "Nodes the last check found online." },
            lastCheckTime: { type: ["string", "null"], format: "date-time" },
          },
        },
        RunView: {
          type: "object",
          required: ["id", "namespace", "name", "action", "status", "reason", "attempt", "generation", "createdAt"],
          properties: {
            id: { type: "string", format: "uuid" },
            namespace: { type: "string" },
            name: { type: "string" },
            action: { enum: ["plan", "apply", "destroy", "forget"] },
            status: { enum: ["queued", "running", "succeeded", "no_changes", "failed"] },
            reason: { type: "string" },
            attempt: { type: "integer" },
            generation: { type: "integer" },
            createdAt: { type: "string", format: "date-time" },
            startedAt: { type: ["string", "null"], format: "date-time" },
            finishedAt: { type: ["string", "null"], format: "date-time" },
            addCount: { type: ["integer", "null"] },
            changeCount: { type: ["integer", "null"] },
            destroyCount: { type: ["integer", "null"] },
            error: { type: ["string", "null"] },
            errorKind: { type: ["string", "null"] },
          },
        },
        AttributeChange: {
          type: "object",
          required: ["path", "action", "before", "after"],
          properties: {
            path: { type: "string", description: 'e.g. "memory.dedicated", "disk[1].size".' },
            action: { type: "string", enum: ["add", "change", "remove"] },
            before: { description: "null when added; \"(sensitive)\" for a secret." },
            after: { description: "null when removed; \"(sensitive)\" or \"(known after apply)\"." },
          },
        },
        PlannedResource: {
          type: "object",
          required: ["address", "actions", "replace", "changes"],
          properties: {
            address: { type: "string" },
            actions: { type: "array", items: { type: "string", enum: ["create", "update", "delete", "read", "no-op"] } },
            replace: { type: "boolean" },
            replacedBy: { type: "array", items: { type: "string" } },
            changes: { type: "array", items: { $ref: "#/components/schemas/AttributeChange" } },
          },
        },
        RunEventView: {
          type: "object",
          required: ["runId", "seq", "ts", "level", "type", "message"],
          properties: {
            runId: { type: "string", format: "uuid" },
            seq: { type: "integer", minimum: 1 },
            ts: { type: "string", format: "date-time" },
            level: { type: "string" },
            type: { type: "string" },
            message: { type: "string" },
          },
        },
      },
    },
    security: [{}, { bearer: [] }],
    paths: {
      "/api/v1/vms": {
        get: {
          summary: "Every ProxmoxVM with its status (from the sidecar's informer cache), sorted by namespace and name.",
          parameters: [
            ns,
            { name: "labelSelector", in: "query", required: false, schema: { type: "string" }, description: "Kubernetes label selector: a=b, a!=b, a in (x,y), a notin (x,y), a, !a." },
          ],
          responses: {
            "200": { description: "The VMs.", content: json({ type: "object", required: ["items"], properties: { items: { type: "array", items: { $ref: "#/components/schemas/VmView" } } } }) },
            "400": error,
            "401": unauthorized,
            "503": { description: "The cache is still loading.", content: json({ $ref: "#/components/schemas/Error" }) },
          },
        },
      },
      "/api/v1/connections": {
        get: {
          summary: "Every ProxmoxConnection with its health (from the sidecar's informer cache), sorted by namespace and name.",
          parameters: [ns],
          responses: {
            "200": {
              description: "The connections.",
              content: json({ type: "object", required: ["items"], properties: { items: { type: "array", items: { $ref: "#/components/schemas/ConnectionView" } } } }),
            },
            "400": error,
            "401": unauthorized,
            "503": { description: "The cache is still loading.", content: json({ $ref: "#/components/schemas/Error" }) },
          },
        },
      },
      "/api/v1/namespaces/{namespace}/vms/{name}": {
        get: {
          summary: "One ProxmoxVM.",
          parameters: [
            { name: "namespace", in: "path", required: true, schema: { type: "string" } },
            { name: "name", in: "path", required: true, schema: { type: "string" } },
          ],
          responses: { "200": { description: "The VM.", content: json({ $ref: "#/components/schemas/VmView" }) }, "401": unauthorized, "404": error },
        },
      },
      "/api/v1/namespaces/{namespace}/vms/{name}/reconcile": {
        post: {
          summary: "Queue a run for the VM now (plan, and apply when the plan has changes). Needs the admin token.",
          security: [{ bearer: [] }],
          parameters: [
            { name: "namespace", in: "path", required: true, schema: { type: "string" } },
            { name: "name", in: "path", required: true, schema: { type: "string" } },
          ],
          responses: {
            "202": {
              description: "Queued, or a run is already queued or running (queued: false).",
              content: json({ type: "object", required: ["queued", "message"], properties: { queued: { type: "boolean" }, message: { type: "string" } } }),
            },
            "401": unauthorized,
            "403": unauthorized,
            "404": error,
          },
        },
      },
      "/api/v1/namespaces/{namespace}/vms/{name}/approve": {
        post: {
          summary: "Approve the VM's pending plan: the approved run applies exactly that saved plan (a stale one is planned again and waits). Writes the approve annotation as field manager ptm-sidecar-admin-token. Needs the admin token.",
          security: [{ bearer: [] }],
          parameters: [
            { name: "namespace", in: "path", required: true, schema: { type: "string" } },
            { name: "name", in: "path", required: true, schema: { type: "string" } },
          ],
          requestBody: {
            required: false,
            content: json({ type: "object", properties: { runId: { type: "string", format: "uuid", description: "The plan's run; refused (409) unless it is the pending plan." } } }),
          },
          responses: {
            "202": {
              description: "The annotation is written; the operator acts on it.",
              content: json({
                type: "object",
                required: ["approved", "runId", "message"],
                properties: { approved: { type: "boolean" }, runId: { type: "string", format: "uuid" }, message: { type: "string" } },
              }),
            },
            "401": unauthorized,
            "403": unauthorized,
            "404": error,
            "409": error,
          },
        },
      },
      "/api/v1/namespaces/{namespace}/vms/{name}/discard": {
        post: {
          summary: "Discard the VM's pending plan: nothing is applied; the VM waits for a spec change or a new approval. Writes the discard annotation. Needs the admin token.",
          security: [{ bearer: [] }],
          parameters: [
            { name: "namespace", in: "path", required: true, schema: { type: "string" } },
            { name: "name", in: "path", required: true, schema: { type: "string" } },
          ],
          requestBody: {
            required: false,
            content: json({ type: "object", properties: { runId: { type: "string", format: "uuid", description: "The plan's run; refused (409) unless it is the pending plan." } } }),
          },
          responses: {
            "202": {
              description: "The annotation is written; the operator acts on it.",
              content: json({
                type: "object",
                required: ["discarded", "runId", "message"],
                properties: { discarded: { type: "boolean" }, runId: { type: "string", format: "uuid" }, message: { type: "string" } },
              }),
            },
            "401": unauthorized,
            "403": unauthorized,
            "404": error,
            "409": error,
          },
        },
      },
      "/api/v1/runs": {
        get: {
          summary: "Terraform runs, newest first, in pages.",
          parameters: [
            ns,
            name,
            { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: RUNS_MAX_LIMIT, default: RUNS_DEFAULT_LIMIT } },
            { name: "cursor", in: "query", required: false, schema: { type: "string" }, description: "nextCursor of the previous page." },
          ],
          responses: {
            "200": {
              description: "A page of runs.",
              content: json({
                type: "object",
                required: ["items", "nextCursor"],
                properties: { items: { type: "array", items: { $ref: "#/components/schemas/RunView" } }, nextCursor: { type: ["string", "null"] } },
              }),
            },
            "400": error,
            "401": unauthorized,
          },
        },
      },
      "/api/v1/runs/{id}": {
        get: {
          summary: "One run.",
          parameters: [runId],
          responses: { "200": { description: "The run.", content: json({ $ref: "#/components/schemas/RunView" }) }, "401": unauthorized, "404": error },
        },
      },
      "/api/v1/runs/{id}/events": {
        get: {
          summary: "A run's log lines in order.",
          parameters: [
            runId,
            { name: "after", in: "query", required: false, schema: { type: "integer", minimum: 0, default: 0 }, description: "Only lines with seq greater than this." },
            { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: RUN_EVENTS_MAX_LIMIT, default: RUN_EVENTS_DEFAULT_LIMIT } },
          ],
          responses: {
            "200": { description: "The lines.", content: json({ type: "object", required: ["items"], properties: { items: { type: "array", items: { $ref: "#/components/schemas/RunEventView" } } } }) },
            "400": error,
            "401": unauthorized,
            "404": error,
          },
        },
      },
      "/api/v1/runs/{id}/plan": {
        get: {
          summary: "What a run changes: the desired change (its synthesized stack against the VM's last applied one) and, when it saved a plan, the planned change (tofu show -json, reduced).",
          description:
            'Values tofu marks sensitive, and values under secret-looking attributes, read "(sensitive)"; values only known after the apply read "(known after apply)". ' +
            "A resource with replace true is destroyed and re-created; replacedBy names the attributes that force it. planRunId is set on a run that applied an approved plan: the run that made it.",
          parameters: [runId],
          responses: {
            "200": {
              description: "The two diffs; each is null when not recorded (the run made no plan file, or ran before diffs were kept).",
              content: json({
                type: "object",
                required: ["runId", "specHash", "desired", "planned", "planRunId"],
                properties: {
                  runId: { type: "string", format: "uuid" },
                  specHash: { type: "string" },
                  desired: {
                    type: ["object", "null"],
                    required: ["changes"],
                    properties: { changes: { type: "array", items: { $ref: "#/components/schemas/AttributeChange" } } },
                  },
                  planned: {
                    type: ["object", "null"],
                    required: ["resources"],
                    properties: { resources: { type: "array", items: { $ref: "#/components/schemas/PlannedResource" } } },
                  },
                  planRunId: { type: ["string", "null"], format: "uuid" },
                },
              }),
            },
            "401": unauthorized,
            "404": error,
          },
        },
      },
      "/api/v1/events": {
        get: {
          summary: "Server-Sent Events: VM changes (event: vm), run start/finish (event: run), log lines (event: log); reset when a resume point is gone.",
          description:
            "The stream starts with `retry: 3000`; `: hb` comments come every 15 s. Every event has `id: <redis stream id>`; reconnecting with " +
            "Last-Event-ID (header, or ?lastEventId=) sends exactly the events missed, in order, then live ones. `vm` data: " +
            "{ type: upsert|delete, vm: VmView }; `run` data: RunView; `log` data: RunEventView plus namespace and name; `reset` data: " +
            "{ reason, lastEventId }: reload the state (the events after the client's id are no longer kept).",
          security: [{}, { bearer: [] }, { accessToken: [] }],
          parameters: [
            ns,
            name,
            { name: "run", in: "query", required: false, schema: { type: "string", format: "uuid" }, description: "Only this run's run and log events." },
            { name: "lastEventId", in: "query", required: false, schema: { type: "string" }, description: "Like the Last-Event-ID header." },
            { name: "Last-Event-ID", in: "header", required: false, schema: { type: "string" } },
          ],
          responses: {
            "200": { description: "The event stream.", content: { "text/event-stream": { schema: { type: "string" } } } },
            "400": error,
            "401": unauthorized,
            "503": { description: "Too many SSE clients on this sidecar.", content: json({ $ref: "#/components/schemas/Error" }) },
          },
        },
      },
      "/api/v1/openapi.json": { get: { summary: "This document.", security: [{}], responses: { "200": { description: "OpenAPI 3.1", content: json({ type: "object" }) } } } },
      "/metrics": {
        get: {
          summary: "Prometheus metrics (needs the read token when one is set).",
          responses: { "200": { description: "Prometheus text format", content: { "text/plain": { schema: { type: "string" } } } }, "401": unauthorized },
        },
      },
      "/healthz": { get: { summary: "Liveness: the process answers.", security: [{}], responses: { "200": { description: "ok" } } } },
      "/readyz": {
        get: {
          summary: "Readiness: Redis, PostgreSQL, the Kubernetes API, the VM and connection caches and the event stream reader.",
          security: [{}],
          responses: { "200": { description: "Ready." }, "503": { description: "Not ready; `checks` says what is not." } },
        },
      },
    },
  };
}
