import type {
  VirtualEnvironmentVmConfig,
  VmAgentConfig,
  VmCloneConfig,
  VmCpuConfig,
  VmDiskConfig,
  VmDnsConfig,
  VmInitializationConfig,
  VmIpConfig,
  VmMemoryConfig,
  VmNetworkDeviceConfig,
  VmUserAccountConfig,
} from "./vm-config.js";

type Attributes = Record<string, unknown>;

/** Drops undefined members so an omitted argument never reaches the JSON (the provider defaults it). */
function defined(attributes: Attributes): Attributes {
  return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined));
}

function mapOptional<T>(value: T | undefined, map: (v: T) => Attributes): Attributes | undefined {
  return value === undefined ? undefined : map(value);
}

function mapList<T>(values: T[] | undefined, map: (v: T) => Attributes): Attributes[] | undefined {
  return values?.map(map);
}

// Nested blocks with max_items = 1 are written as one JSON object, list blocks as arrays: both
// are what Terraform's JSON syntax expects for blocks.

const clone = (c: VmCloneConfig) =>
  defined({ vm_id: c.vmId, node_name: c.nodeName, full: c.full, datastore_id: c.datastoreId });

const cpu = (c: VmCpuConfig) => defined({ cores: c.cores, sockets: c.sockets, type: c.type });

const memory = (m: VmMemoryConfig) => defined({ dedicated: m.dedicated, floating: m.floating });

const disk = (d: VmDiskConfig) =>
  defined({
    interface: d.interface,
    datastore_id: d.datastoreId,
    size: d.size,
    file_format: d.fileFormat,
    ssd: d.ssd,
    discard: d.discard,
    iothread: d.iothread,
  });

/**
 * Every member of the provider's `network_device` object type (0.111.1). `network_device` is an
 * attribute in "attributes as blocks" mode (SDKv2 ConfigModeAttr): HCL block syntax fills the
 * members a block leaves out with null, but in JSON it is a plain list(object) attribute, and
 * tofu rejects an object that lacks members. So unset members are written as explicit null, which
 * is exactly what the block syntax produces (the provider then applies its defaults). A provider
 * upgrade that adds a member must add it here; test/synth/validate-matrix.test.ts catches it.
 */
export const NETWORK_DEVICE_MEMBERS = [
  "bridge",
  "disconnected",
  "enabled",
  "firewall",
  "mac_address",
  "model",
  "mtu",
  "queues",
  "rate_limit",
  "trunks",
  "vlan_id",
] as const;

const networkDevice = (n: VmNetworkDeviceConfig): Attributes => {
  const set: Attributes = defined({
    bridge: n.bridge,
    model: n.model,
    vlan_id: n.vlanId,
    mac_address: n.macAddress,
    firewall: n.firewall,
    mtu: n.mtu,
  });
  return Object.fromEntries(NETWORK_DEVICE_MEMBERS.map((member) => [member, set[member] ?? null]));
};

const userAccount = (u: VmUserAccountConfig) => defined({ username: u.username, keys: u.keys, password: u.password });

const ipConfig = (i: VmIpConfig) =>
  defined({ ipv4: mapOptional(i.ipv4, (v4) => defined({ address: v4.address, gateway: v4.gateway })) });

const dns = (d: VmDnsConfig) => defined({ servers: d.servers, domain: d.domain });

const initialization = (i: VmInitializationConfig) =>
  defined({
    datastore_id: i.datastoreId,
    user_account: mapOptional(i.userAccount, userAccount),
    ip_config: mapList(i.ipConfig, ipConfig),
    dns: mapOptional(i.dns, dns),
  });

const agent = (a: VmAgentConfig) => defined({ enabled: a.enabled, timeout: a.timeout });

/** The resource's arguments in the provider's snake_case, exactly as they appear in the JSON. */
export function vmToTerraform(c: VirtualEnvironmentVmConfig): Attributes {
  return defined({
    node_name: c.nodeName,
    vm_id: c.vmId,
    name: c.name,
    description: c.description,
    tags: c.tags,
    clone: mapOptional(c.clone, clone),
    cpu: mapOptional(c.cpu, cpu),
    memory: mapOptional(c.memory, memory),
    disk: mapList(c.disk, disk),
    network_device: mapList(c.networkDevice, networkDevice),
    initialization: mapOptional(c.initialization, initialization),
    agent: mapOptional(c.agent, agent),
    started: c.started,
    on_boot: c.onBoot,
    protection: c.protection,
    pool_id: c.poolId,
    migrate: c.migrate,
  });
}
