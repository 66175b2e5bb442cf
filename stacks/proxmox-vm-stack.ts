import { PgBackend, TerraformOutput, TerraformStack, TerraformVariable } from "cdktn";
import type { Construct } from "constructs";
import { DEFAULT_STATE_SCHEMA, type SynthesisInput } from "../src/synth/synthesis-input.js";
import { nonLoopbackIpv4Expression, routableIpv6Expression } from "./ipv4-addresses-expression.js";
import { ProxmoxProvider } from "./proxmox/proxmox-provider.js";
import { VirtualEnvironmentVm } from "./proxmox/virtual-environment-vm.js";
import { vmConfigFromSpec } from "./vm-config-from-spec.js";
import { vmLifecycle } from "./vm-lifecycle.js";

/** Variable holding the cloud-init password; the worker sets TF_VAR_cloud_init_password. */
export const CLOUD_INIT_PASSWORD_VARIABLE = "cloud_init_password";

/** Logical name of the VM resource: `proxmox_virtual_environment_vm.vm`. */
export const VM_RESOURCE_NAME = "vm";

/**
 * One ProxmoxVM as a Terraform configuration: provider (no endpoint, no secret), pg backend (no
 * connection string), the VM resource and its outputs. Endpoint, token and PG_CONN_STR come from
 * the worker's environment and the workspace (`<namespace>.<name>`) is selected at run time, so
 * the JSON holds nothing secret and nothing that differs between runs of the same spec.
 *
 * The VM resource never loses the VM by accident (see vm-lifecycle.ts): `prevent_destroy` unless
 * the run is a deletion (`allowDestroy`) or the user opted in (`spec.allowReplacement`), and
 * `ignore_changes` on the clone source and on template-inherited settings the spec leaves out.
 */
export class ProxmoxVmStack extends TerraformStack {
  /** Variables the worker must pass as TF_VAR_<name>. */
  readonly secretVariables: string[] = [];
  readonly vm: VirtualEnvironmentVm;

  constructor(scope: Construct, id: string, input: SynthesisInput) {
    super(scope, id);

    const backend = new PgBackend(this, { connStr: "", schemaName: input.stateSchema ?? DEFAULT_STATE_SCHEMA });
    // cdktn's PgBackendConfig requires connStr; the escape hatch removes it so tofu reads PG_CONN_STR.
    backend.addOverride("conn_str", undefined);

    // The resource uses the default (unaliased) provider, so it needs no `provider` argument.
    new ProxmoxProvider(this, "proxmox", { version: input.providerVersion });

    let cloudInitPassword: string | undefined;
    if (input.spec.initialization?.userAccount?.passwordSecretRef !== undefined) {
      const variable = new TerraformVariable(this, CLOUD_INIT_PASSWORD_VARIABLE, { type: "string", sensitive: true });
      cloudInitPassword = variable.stringValue;
      this.secretVariables.push(CLOUD_INIT_PASSWORD_VARIABLE);
    }

    const config = vmConfigFromSpec({ name: input.name, spec: input.spec, vmId: input.vmId, cloudInitPassword, ownerUid: input.uid });
    const preventDestroy = !(input.allowDestroy === true || input.spec.allowReplacement);
    this.vm = new VirtualEnvironmentVm(this, VM_RESOURCE_NAME, { ...config, lifecycle: vmLifecycle(config, { preventDestroy }) });

    new TerraformOutput(this, "vm_id", { value: this.vm.vmIdAttribute, staticId: true });
    new TerraformOutput(this, "node_name", { value: this.vm.nodeNameAttribute, staticId: true });
    new TerraformOutput(this, "ipv4_addresses", {
      value: nonLoopbackIpv4Expression(`${this.vm.address}.ipv4_addresses`),
      staticId: true,
    });
    new TerraformOutput(this, "ipv6_addresses", {
      value: routableIpv6Expression(`${this.vm.address}.ipv6_addresses`),
      staticId: true,
    });
    new TerraformOutput(this, "mac_addresses", { value: this.vm.macAddressesAttribute, staticId: true });
  }
}
