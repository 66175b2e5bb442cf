import { describe, expect, it } from "vitest";
import {
  PropertyStringError,
  decodeSshKeys,
  formatDrive,
  formatNet,
  formatSize,
  parseDrive,
  parseIpConfig,
  parseNet,
  parseNewDiskSpec,
  parseSize,
  randomMac,
  validSshPublicKeys,
} from "./config-strings.js";

/** The error `fn` throws; fails the test when it throws nothing. */
function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error, but nothing was thrown");
}

describe("net property strings", () => {
  it("parses Proxmox's model=MAC form and prints it back the same way", () => {
    const net = parseNet("virtio=BC:24:11:2E:7A:01,bridge=vmbr0,firewall=1,tag=10");
    expect(net).toEqual({ model: "virtio", macaddr: "BC:24:11:2E:7A:01", bridge: "vmbr0", firewall: "1", tag: "10" });
    expect(formatNet(net)).toBe("virtio=BC:24:11:2E:7A:01,bridge=vmbr0,firewall=1,tag=10");
  });

  it("accepts the explicit model= form the provider sends, normalising booleans and order", () => {
    const net = parseNet("model=virtio,bridge=vmbr0,firewall=false,macaddr=BC:24:11:00:00:01,tag=10,mtu=1500,");
    expect(formatNet(net)).toBe("virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=0,mtu=1500,tag=10");
  });

  it("rejects what Proxmox rejects", () => {
    expect(() => parseNet("bridge=vmbr0")).toThrow(PropertyStringError);
    expect(() => parseNet("virtio,tag=4095")).toThrow(/format error/);
    expect(() => parseNet("virtio,speed=10")).toThrow(/invalid key in comma-separated list property: speed/);
    expect(() => parseNet("virtio,virtio")).toThrow(/duplicate key/);
    const multicast = catchError(() => parseNet("virtio=01:00:00:00:00:01"));
    expect(multicast).toBeInstanceOf(PropertyStringError);
    expect((multicast as PropertyStringError).describe("net0")).toBe("invalid format - format error\nnet0.macaddr: value is not a valid unicast MAC address");
  });

  it("makes locally administered unicast MACs with Proxmox's BC:24:11 prefix", () => {
    for (let i = 0; i < 20; i++) expect(randomMac()).toMatch(/^BC:24:11(:[0-9A-F]{2}){3}$/);
    expect(randomMac("", () => 0.999)).toBe("FE:FF:FF:FF:FF:FF");
  });
});

describe("drive property strings", () => {
  it("puts the volume first and sorts the options, with sizes in K/M/G/T", () => {
    const drive = parseDrive("file=local-lvm:vm-101-disk-0,size=21474836480,ssd=on,iothread=1,aio=io_uring,");
    expect(drive.size).toBe("21474836480");
    expect(formatDrive(drive)).toBe("local-lvm:vm-101-disk-0,aio=io_uring,iothread=1,size=20G,ssd=1");
    expect(formatDrive(parseDrive("local-lvm:vm-9000-cloudinit,media=cdrom"))).toBe("local-lvm:vm-9000-cloudinit,media=cdrom");
  });

  it("recognises new-disk and bad values", () => {
    expect(parseNewDiskSpec("local-lvm:32")).toEqual({ storage: "local-lvm", sizeGiB: 32 });
    expect(parseNewDiskSpec("local-lvm:vm-101-disk-0")).toBeUndefined();
    expect(() => parseDrive("local-lvm:vm-1-disk-0,cache=fast")).toThrow(PropertyStringError);
    expect(() => parseDrive("local-lvm:vm-1-disk-0,size=twenty")).toThrow(PropertyStringError);
  });
});

describe("sizes", () => {
  it("formats like PVE::JSONSchema::format_size", () => {
    expect(formatSize(20 * 1024 ** 3)).toBe("20G");
    expect(formatSize(3584 * 1024 ** 2)).toBe("3584M");
    expect(formatSize(4 * 1024 ** 2)).toBe("4M");
    expect(formatSize(2 * 1024 ** 4)).toBe("2T");
    expect(formatSize(1536)).toBe("1536"); // 1.5 KiB is not a whole unit: printed in bytes
    expect(formatSize(1025)).toBe("1025");
  });

  it("parses like PVE::JSONSchema::parse_size", () => {
    expect(parseSize("20G")).toBe(20 * 1024 ** 3);
    expect(parseSize("1.5G")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("512MiB")).toBe(512 * 1024 ** 2);
    expect(parseSize("1024")).toBe(1024);
    expect(parseSize("20GB")).toBeUndefined();
  });
});

describe("cloud-init values", () => {
  it("parses ipconfig and refuses a gateway without an address", () => {
    expect(parseIpConfig("ip=192.168.1.10/24,gw=192.168.1.1")).toEqual({ ip: "192.168.1.10/24", gw: "192.168.1.1" });
    expect(parseIpConfig("ip=dhcp,ip6=auto")).toEqual({ ip: "dhcp", ip6: "auto" });
    expect(() => parseIpConfig("gw=192.168.1.1")).toThrow(PropertyStringError);
    expect(() => parseIpConfig("ip=192.168.1.300/24")).toThrow(PropertyStringError);
  });

  it("decodes URL-encoded sshkeys and validates them like ssh-keygen would", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPedy3AxFypkG7Q2nbyIl2u1+e7dJHJMwToygb7aQTRi ptm@test";
    const encoded = "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIPedy3AxFypkG7Q2nbyIl2u1%2Be7dJHJMwToygb7aQTRi%20ptm%40test%0A";
    expect(decodeSshKeys(encoded)).toBe(`${key}\n`);
    expect(validSshPublicKeys(decodeSshKeys(encoded))).toBe(true);
    expect(validSshPublicKeys("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIPedy3AxFypkG7Q2nbyIl2u1+e7dJHJMwToygb7aQTRi")).toBe(false);
    expect(validSshPublicKeys("not a key")).toBe(false);
  });
});
