import type { TerraformResourceLifecycle } from "cdktn";
import type { VirtualEnvironmentVmConfig } from "./proxmox/vm-config.js";

/**
 * Arguments of `proxmox_virtual_environment_vm` whose value a cloned VM takes from its template
 * when the configuration leaves them out. bpg/proxmox 0.111.1 knows this only through the
 * `clone` block in state (proxmoxtf/resource/vm/vm.go, vmReadCustom: `len(clone) == 0 || ...`
 * around every one of these): a VM it cloned keeps the template's values, but an imported VM
 * has no `clone` in state, so the provider reads every one of them back and plans to reset each
 * to the provider's default (the simulator showed cores 2 → 1, memory 2048 → 512 MiB, the guest
 * agent and serial console removed). Ignoring the ones the spec leaves out makes an adopted VM
 * behave like a cloned one: the template's value stands.
 */
export const TEMPLATE_INHERITED_ARGUMENTS = [
  "acpi",
  "agent",
  "amd_sev",
  "audio_device",
  "bios",
  "cdrom",
  "cpu",
  "description",
  "efi_disk",
  "hook_script_file_id",
  "hostpci",
  "initialization",
  "keyboard_layout",
  "kvm_arguments",
  "machine",
  "memory",
  "numa",
  "operating_system",
  "protection",
  "rng",
  "scsi_hardware",
  "serial_device",
  "smbios",
  "startup",
  "tablet_device",
  "tags",
  "template",
  "tpm_state",
  "usb",
  "vga",
  "virtiofs",
  "watchdog",
] as const;

/** Config members (camelCase) that the spec can set, by provider argument name. */
const SPEC_SET: Partial<Record<(typeof TEMPLATE_INHERITED_ARGUMENTS)[number], keyof VirtualEnvironmentVmConfig>> = {
  agent: "agent",
  cpu: "cpu",
  description: "description",
  initialization: "initialization",
  memory: "memory",
  protection: "protection",
  tags: "tags",
};

export interface VmLifecycleOptions {
  /** False only for a deletion, or after the user opted in with spec.allowReplacement. */
  preventDestroy: boolean;
}

/**
 * The VM resource's lifecycle:
 * - `ignore_changes` on `clone` (immutable in the CRD, and absent from an imported VM's state,
 *   where it would force a replacement) and on every template-inherited argument the
 *   configuration does not set (see above), so adopting a VM never replaces or resets it;
 * - `prevent_destroy`, so tofu itself refuses a plan that would destroy or replace the VM
 *   before it changes anything.
 */
export function vmLifecycle(config: VirtualEnvironmentVmConfig, options: VmLifecycleOptions): TerraformResourceLifecycle {
  const unset = TEMPLATE_INHERITED_ARGUMENTS.filter((argument) => {
    const member = SPEC_SET[argument];
    return member === undefined || config[member] === undefined;
  });
  return { ignoreChanges: ["clone", ...unset], preventDestroy: options.preventDestroy };
}
