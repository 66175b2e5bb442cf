import type { ProxmoxVMSpec } from "../src/api/proxmox-vm.js";
import { SynthesisError } from "../src/synth/synthesis-error.js";
import { OWNERSHIP_TAG_PREFIX, ownershipTag } from "./ownership-marker.js";
import type { VirtualEnvironmentVmConfig, VmInitializationConfig } from "./proxmox/vm-config.js";

export interface VmConfigSource {
  /** metadata.name: the VM name when spec.name is unset. */
  name: string;
  spec: ProxmoxVMSpec;
  /** Pinned id; wins over spec.vmId. */
  vmId?: number;
  /** Expression for the cloud-init password (a variable reference); required when the spec has passwordSecretRef. */
  cloudInitPassword?: string;
  /** metadata.uid of the ProxmoxVM: adds its ownership tag (see ownership-marker.ts). */
  ownerUid?: string;
}

/** spec.tags plus the ownership tag, deduplicated and sorted; undefined when there are none. */
function tagsFrom(source: VmConfigSource): string[] | undefined {
  const tags = new Set(source.spec.tags ?? []);
  for (const tag of tags) {
    // Only the operator writes ownership tags: one in the spec could claim another resource's VM.
    if (tag.startsWith(OWNERSHIP_TAG_PREFIX)) {
      throw new SynthesisError("spec.tags", `tags starting with ${OWNERSHIP_TAG_PREFIX} are reserved for the operator's ownership marker`);
    }
  }
  if (source.ownerUid !== undefined) tags.add(ownershipTag(source.ownerUid));
  return tags.size > 0 || source.spec.tags !== undefined ? [...tags].sort() : undefined;
}

function initializationFrom(init: NonNullable<ProxmoxVMSpec["initialization"]>, password: string | undefined): VmInitializationConfig {
  const account = init.userAccount;
  if (account?.passwordSecretRef !== undefined && password === undefined) {
    // A programming error, not a spec error: the stack declares the variable before mapping.
    throw new Error("passwordSecretRef is set but no password expression was given");
  }
  return {
    datastoreId: init.datastoreId,
    userAccount: account && {
      username: account.username,
      keys: account.keys,
      password: account.passwordSecretRef === undefined ? undefined : password,
    },
    ipConfig: init.ipConfigs?.map((ip) => ({ ipv4: ip.ipv4 && { address: ip.ipv4.address, gateway: ip.ipv4.gateway } })),
    dns: init.dns && { servers: init.dns.servers, domain: init.dns.domain },
  };
}

/**
 * Maps the spec one to one onto `proxmox_virtual_environment_vm` arguments; what the spec omits
 * stays undefined so the provider applies its own default. Operator-only fields (connectionRef,
 * deletionPolicy, approval, driftDetection, suspend, managementPolicy) are deliberately not read.
 */
export function vmConfigFromSpec(source: VmConfigSource): VirtualEnvironmentVmConfig {
  const { spec } = source;
  return {
    nodeName: spec.nodeName,
    vmId: source.vmId ?? spec.vmId,
    name: spec.name ?? source.name,
    description: spec.description,
    // A set in the CRD, and the provider ignores tag order: a canonical order keeps the hash
    // stable when only the order changes.
    tags: tagsFrom(source),
    clone: {
      vmId: spec.clone.vmId,
      nodeName: spec.clone.nodeName,
      full: spec.clone.full,
      datastoreId: spec.clone.datastoreId,
    },
    cpu: spec.cpu && { cores: spec.cpu.cores, sockets: spec.cpu.sockets, type: spec.cpu.type },
    memory: spec.memory && { dedicated: spec.memory.dedicated, floating: spec.memory.floating },
    // Disk and NIC order is kept as written: NICs map to net0, net1, ... by position.
    disk: spec.disks?.map((d) => ({
      interface: d.interface,
      datastoreId: d.datastoreId,
      size: d.size,
      fileFormat: d.fileFormat,
      ssd: d.ssd,
      discard: d.discard,
      iothread: d.iothread,
    })),
    networkDevice: spec.networkDevices?.map((n) => ({
      bridge: n.bridge,
      model: n.model,
      vlanId: n.vlanId,
      macAddress: n.macAddress,
      firewall: n.firewall,
      mtu: n.mtu,
    })),
    initialization: spec.initialization && initializationFrom(spec.initialization, source.cloudInitPassword),
    agent: spec.agent && { enabled: spec.agent.enabled, timeout: spec.agent.timeout },
    started: spec.started,
    onBoot: spec.onBoot,
    protection: spec.protection,
    poolId: spec.poolId,
    // Only when set: an unset field keeps existing VMs' synthesized JSON (and stack hash) as it was.
    migrate: spec.migrate || undefined,
  };
}
