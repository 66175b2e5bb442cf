import { describe, expect, it } from "vitest";
import { STORAGE_FULL_HINT, classifyFailure, describeFailure } from "./classify-error.js";

const kind = (...texts: string[]) => classifyFailure({ texts });

describe("classifyFailure", () => {
  it("recognises a held state lock", () => {
    expect(kind("Error acquiring the state lock\nError message: Workspace is already locked: vm1")).toBe("lock");
  });

  it("treats the pg backend's workspace-creation lock as a lock", () => {
    // OpenTofu 1.12.6, `workspace select -or-create` while another workspace of the schema is created.
    expect(
      kind(
        "Error getting the state manager\nFailed getting state manager for workspace ns.vm-011: failed to lock state in Postgres: Already locked for workspace creation: ns.vm-011\nLock Info:\n  ID:        fb5730f6-10a8-dda2-d949-013554078a63\n  Operation: init",
      ),
    ).toBe("lock");
    expect(kind("Error acquiring the state lock\nError message: Cannot lock workspace; already locked for workspace creation: ns.vm-2")).toBe("lock");
  });

  // Proxmox's words for a full datastore, as bpg/proxmox v0.111.1 reports them through tofu.
  it.each([
    [
      "full clone onto a full LVM volume group (the simulator's text)",
      'VM clone\ntask "UPID:pve1:00005738:00143219:6B0A7120:qmclone:9000:root@pam!pve-sim:" failed to complete with exit code: clone failed: lvcreate \'pve/vm-100-disk-0\' error: Volume group "pve" has insufficient free space (511 extents): 896 required. task log: create full clone of VM 9000 with ID 100 TASK ERROR: clone failed: lvcreate \'pve/vm-100-disk-0\' error: Volume group "pve" has insufficient free space (511 extents): 896 required.',
    ],
    [
      "disk resize on a full storage (the simulator's text)",
      'Disk resize\ntask "UPID:pve1:0000573A:0014368F:6B0A712C:resize:101:root@pam!pve-sim:" failed to complete with exit code: error resizing volume \'local-lvm:vm-101-disk-0\': no space left on storage \'local-lvm\' task log: TASK ERROR: error resizing volume \'local-lvm:vm-101-disk-0\': no space left on storage \'local-lvm\'',
    ],
    ["the same inside an HTTP 500", "received an HTTP 500 response - Reason: error resizing volume 'local-lvm:vm-124-disk-0': no space left on storage 'local-lvm'"],
    ["lvextend", "TASK ERROR: command '/sbin/lvextend -L20971520k pve/vm-104-disk-0' failed: exit code 5: Insufficient free space: 4096 extents needed, but only 511 available"],
    ["directory storage", "unable to create image: qemu-img: /var/lib/vz/images/105/vm-105-disk-0.qcow2: Could not resize file: No space left on device"],
    ["ZFS", "zfs error: cannot create 'rpool/data/vm-106-disk-0': out of space"],
  ])("treats a full datastore as permanent, with what to do: %s", (_name, text) => {
    expect(describeFailure({ texts: [text], exitCode: 1 })).toEqual({ kind: "permanent", hint: STORAGE_FULL_HINT, problem: "storage-full" });
  });

  it("leaves a full local disk or database to the retries (not Proxmox's storage)", () => {
    expect(kind("Error: failed to write plan: write /tmp/ptm-work/x.tfplan: no space left on device")).toBe("transient");
    expect(kind("pq: could not extend file \"base/16384/2619\": No space left on device")).toBe("transient");
  });

  it.each([
    ["Proxmox config lock", "error waiting for VM start: received an HTTP 500 response - Reason: can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"],
    ["HTTP 500", "received an HTTP 500 response - Reason: Internal Server Error"],
    ["HTTP 503", "unexpected status code: 503 Service Unavailable"],
    ["502", "502 Bad Gateway"],
    ["connection refused", 'dial tcp 127.0.0.1:8006: connect: connection refused'],
    ["connection reset", "read tcp 10.0.0.1:1234->10.0.0.2:8006: read: connection reset by peer"],
    ["TLS handshake timeout", "net/http: TLS handshake timeout"],
    ["context deadline", "context deadline exceeded"],
    ["i/o timeout", "dial tcp 10.0.0.2:8006: i/o timeout"],
    ["postgres restarting", "pq: the database system is starting up"],
  ])("treats %s as transient", (_name, text) => {
    expect(kind(text)).toBe("transient");
  });

  it.each([
    ["unsupported argument", 'Unsupported argument\nAn argument named "bogus" is not expected here.'],
    ["invalid value", "Invalid value for variable"],
    ["unknown argument in JSON", 'Extraneous JSON object property\nNo argument or block type is named "bogus_argument".'],
    ["Proxmox 400", "received an HTTP 400 response - Reason: Parameter verification failed. (memory: value must be at least 16)"],
    ["unknown attribute", "unknown attribute hyperthreads"],
    ["missing argument", 'Missing required argument\nThe argument "node_name" is required, but no definition was found.'],
    ["encrypted state without passphrase", "error loading state: Unsupported state file format: This state file is encrypted and can not be read without an encryption configuration"],
    ["wrong passphrase", "decryption failed for all provided methods: attempted decryption failed for state"],
  ])("treats %s as permanent", (_name, text) => {
    expect(kind(text)).toBe("permanent");
  });

  it("prefers lock over everything and transient over permanent", () => {
    expect(kind("Invalid value", "Error acquiring the state lock")).toBe("lock");
    expect(kind("Invalid value in response", "HTTP 503")).toBe("transient");
  });

  it("defaults to transient", () => {
    expect(kind("Plugin did not respond")).toBe("transient");
    expect(kind()).toBe("transient");
  });

  it("treats a missing binary (exit 127, no diagnostics) as permanent", () => {
    expect(classifyFailure({ texts: ["setpriv: failed to execute tofu: No such file or directory"], exitCode: 127 })).toBe("permanent");
  });
});
