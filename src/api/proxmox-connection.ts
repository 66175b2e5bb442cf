import { z } from "zod";
import { SecretKeyRefSchema } from "./proxmox-vm.js";

/**
 * The ProxmoxConnection spec: where a Proxmox VE API is and which Secret holds its token. The
 * token Secret holds `PVEAPIToken=user@realm!tokenid=secret` (or just `user@realm!tokenid=secret`).
 */
export const ProxmoxConnectionSpecSchema = z
  .object({
    endpoint: z
      .string()
      // No user, password, path, query or fragment: the token is the only credential, and the
      // operator checks the host against its endpoint policy (src/vm/endpoint-policy.ts).
      .regex(/^https?:\/\/[^\s/@?#]+(:[0-9]+)?\/?$/, "must be the API base URL such as https://pve.example.com:8006/")
      .describe(
        "Proxmox VE API base URL, e.g. https://pve.example.com:8006/. https:// only, unless the operator allows http:// (PTM_ALLOW_HTTP_ENDPOINTS); the operator may also hold endpoints to an allow-list of hosts.",
      ),
    tokenSecretRef: SecretKeyRefSchema.describe("Secret key holding the API token."),
    caBundleSecretRef: SecretKeyRefSchema.optional().describe("Secret key holding a PEM CA bundle that signs the endpoint's certificate."),
    insecureSkipTLSVerify: z.boolean().default(false).describe("Skip TLS verification (self-signed test setups only)."),
    maxConcurrentJobsPerNode: z
      .int()
      .min(1)
      .max(64)
      .default(2)
      .describe("At most this many Terraform runs touch one Proxmox node at a time (Proxmox serializes clones)."),
  })
  .strict()
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "!(has(self.caBundleSecretRef) && self.insecureSkipTLSVerify)",
        message: "set caBundleSecretRef or insecureSkipTLSVerify, not both",
      },
    ],
  });

export type ProxmoxConnectionSpec = z.output<typeof ProxmoxConnectionSpecSchema>;
