/**
 * The checks pve-storage makes on an image it did not create itself before taking it into a
 * storage (PVE::Storage::Plugin::file_size_info with `untrusted`, reached from the upload API
 * through assert_iso_content and the import-image check). Proxmox reads the image with
 * `qemu-img info`; the simulator reads the same facts from the image's header:
 *
 * - qcow2: a backing file ("backing file not allowed for untrusted image '…'!") or an external
 *   data file ("…: 'data-file' references are not allowed!") is refused;
 * - VMDK: a descriptor with more than one extent ("…: multiple children or extents are not
 *   allowed!") is refused;
 * - a file that is not in the declared format fails as qemu-img fails to open it.
 *
 * Without a declared format (ISO uploads: `auto-detect`) the header decides, as qemu-img's
 * probing does; anything else is raw and passes.
 */
import { closeSync, openSync, readSync } from "node:fs";

const QCOW2_MAGIC = 0x514649fb;
/** qcow2 v3 incompatible feature bit 2: the guest data lives in an external data file. */
const QCOW2_EXTERNAL_DATA_FILE = 1n << 2n;
const HEADER_BYTES = 4096;

function readHeader(file: string): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  const fd = openSync(file, "r");
  try {
    const read = readSync(fd, header, 0, header.length, 0);
    return header.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function detectFormat(header: Buffer): "qcow2" | "vmdk" | "raw" {
  if (header.length >= 4 && header.readUInt32BE(0) === QCOW2_MAGIC) return "qcow2";
  if (header.toString("latin1", 0, 4) === "KDMV" || header.toString("latin1", 0, 21) === "# Disk DescriptorFile") return "vmdk";
  return "raw";
}

/** Extent lines of a VMDK text descriptor (`RW 2048 FLAT "disk-flat.vmdk" 0`). */
function vmdkExtents(header: Buffer): number {
  const text = header.toString("latin1");
  if (!text.startsWith("# Disk DescriptorFile")) return 1; // a sparse extent is its own single extent
  return text.split("\n").filter((line) => /^\s*(RW|RDONLY|NOACCESS)\s+\d+\s+\S+/.test(line)).length;
}

/**
 * Throws Proxmox's message when the image must not be taken in. `nodeFile` is the path the
 * messages name (the file as the node sees it); `format` the declared one, or undefined to probe.
 */
export function assertUntrustedImage(hostFile: string, nodeFile: string, format: string | undefined): void {
  const header = readHeader(hostFile);
  const detected = detectFormat(header);
  const effective = format ?? detected;
  if (effective === "qcow2") {
    if (detected !== "qcow2") throw new Error(`qemu-img: Could not open '${nodeFile}': Image is not in qcow2 format`);
    const version = header.readUInt32BE(4);
    if (version >= 3 && header.length >= 80 && (header.readBigUInt64BE(72) & QCOW2_EXTERNAL_DATA_FILE) !== 0n) {
      throw new Error(`${nodeFile}: 'data-file' references are not allowed!`);
    }
    if (header.length >= 16 && header.readBigUInt64BE(8) !== 0n) throw new Error(`backing file not allowed for untrusted image '${nodeFile}'!`);
    return;
  }
  if (effective === "vmdk") {
    if (detected !== "vmdk") throw new Error(`qemu-img: Could not open '${nodeFile}': invalid VMDK image descriptor`);
    if (vmdkExtents(header) > 1) throw new Error(`${nodeFile}: multiple children or extents are not allowed!`);
  }
}
