/**
 * The files of file-based storages (type dir/nfs/cifs/btrfs): ISO images, container templates,
 * snippets, import images and backups are real files under the simulator's data directory,
 * laid out as Proxmox lays out a storage path (`template/iso`, `template/cache`, `snippets`,
 * `import`, `dump`). Downloads and uploads write there, the node's SSH/SFTP endpoint writes
 * there, and a content listing rescans the directories, as the directory plugin does. VM image
 * volumes stay metadata only (their bytes would never be read).
 */
import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { CONTENT_SUBDIRS, contentOfVolname, isFileContentType, listedFile, type FileContentType } from "./storage-content.js";
import { isBlockStorage, type StorageState, type VolumeState } from "./state.js";

/** The path Proxmox reports for a directory storage (`local` is /var/lib/vz). */
export function storagePath(s: StorageState): string | undefined {
  if (isBlockStorage(s)) return undefined;
  return s.id === "local" ? "/var/lib/vz" : `/mnt/pve/${s.id}`;
}

/** PVE::Storage::path: where a volume is on the node. */
export function volumeNodePath(s: StorageState, volname: string): string {
  const base = storagePath(s);
  if (!base) return `/dev/${s.type === "zfspool" ? `zvol/rpool/${s.id}` : "pve"}/${volname.split("/").pop()}`;
  const content = contentOfVolname(volname);
  if (content) return `${base}/${CONTENT_SUBDIRS[content]}/${volname.slice(content.length + 1)}`;
  return `${base}/images/${volname}`;
}

/** The inverse of volumeNodePath for file volumes: the storage and volume name of a node path. */
export function volumeAtNodePath(storages: StorageState[], nodePath: string): { storage: StorageState; volname: string } | undefined {
  const normal = path.posix.normalize(nodePath);
  for (const s of storages) {
    const base = storagePath(s);
    if (!base || !normal.startsWith(`${base}/`)) continue;
    const rel = normal.slice(base.length + 1);
    for (const [content, subdir] of Object.entries(CONTENT_SUBDIRS)) {
      if (content === "images" || content === "rootdir") {
        if (content === "images" && rel.startsWith("images/")) return { storage: s, volname: rel.slice("images/".length) };
        continue;
      }
      if (rel.startsWith(`${subdir}/`)) return { storage: s, volname: `${content}/${rel.slice(subdir.length + 1)}` };
    }
  }
  return undefined;
}

/**
 * The virtual size of a disk image file, as `qemu-img info` reports it: qcow2 and VMDK sparse
 * headers carry it; anything else is raw, its size the file's size.
 */
export function imageVirtualSize(file: string): { format: string; virtualSize: number } {
  const header = Buffer.alloc(64);
  const fd = openSync(file, "r");
  let read: number;
  try {
    read = readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (read >= 32 && header.readUInt32BE(0) === 0x514649fb) return { format: "qcow2", virtualSize: Number(header.readBigUInt64BE(24)) };
  if (read >= 20 && header.toString("latin1", 0, 4) === "KDMV") return { format: "vmdk", virtualSize: Number(header.readBigUInt64LE(12)) * 512 };
  return { format: "raw", virtualSize: statSync(file).size };
}

export class StorageFiles {
  /** `temporary`: the directory belongs to this simulator run and goes with it. */
  constructor(
    readonly root: string,
    readonly temporary = false,
  ) {}

  /** A fresh directory under the system's temp dir, created on first write. */
  static temporary(): StorageFiles {
    return new StorageFiles(path.join(tmpdir(), `pve-sim-files-${process.pid}-${randomBytes(4).toString("hex")}`), true);
  }

  /** The host directory holding a storage's files. */
  dirOf(storage: string): string {
    return path.join(this.root, storage);
  }

  /** The host path of a file volume (`iso/x.iso` -> <root>/<storage>/template/iso/x.iso). */
  pathOf(storage: string, volname: string): string {
    const [content, ...rest] = volname.split("/");
    const subdir = isFileContentType(content ?? "") ? CONTENT_SUBDIRS[content as FileContentType] : (content ?? "");
    return path.join(this.dirOf(storage), subdir, ...rest);
  }

  /** Maps a path as the node sees it (`/var/lib/vz/snippets/a`) to the host path, if it is inside a storage. */
  hostPath(storages: StorageState[], nodePath: string): string | undefined {
    const normal = path.posix.normalize(nodePath);
    for (const s of storages) {
      const base = storagePath(s);
      if (!base) continue;
      if (normal === base || normal.startsWith(`${base}/`)) {
        this.activate(s);
        return path.join(this.dirOf(s.id), normal.slice(base.length));
      }
    }
    return undefined;
  }

  /** PVE::Storage::activate_storage on a directory storage: its content directories exist. */
  activate(s: StorageState): void {
    for (const content of s.content) if (isFileContentType(content)) this.ensureContentDir(s.id, content);
  }

  ensureContentDir(storage: string, content: FileContentType): string {
    const dir = path.join(this.dirOf(storage), CONTENT_SUBDIRS[content]);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * Brings the volume index of a file storage in line with its directories: files found are
   * listed (size, ctime, format from the name), files gone are dropped. Volumes that never had
   * a file (seeded entries) are kept.
   */
  rescan(s: StorageState): void {
    if (isBlockStorage(s)) return;
    const seen = new Set<string>();
    for (const content of s.content) {
      if (!isFileContentType(content)) continue;
      const dir = path.join(this.dirOf(s.id), CONTENT_SUBDIRS[content]);
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (name.includes(".tmp_dwnl.")) continue;
        const listed = listedFile(content, name);
        if (!listed) continue;
        const file = path.join(dir, name);
        let st;
        try {
          st = statSync(file);
        } catch {
          continue;
        }
        if (!st.isFile()) continue;
        seen.add(listed.volname);
        const known = s.volumes[listed.volname];
        if (known?.onDisk && known.size === st.size && known.ctime === Math.floor(st.ctimeMs / 1000)) continue;
        s.volumes[listed.volname] = this.describe(file, content, listed.format, st.size, Math.floor(st.ctimeMs / 1000));
      }
    }
    for (const [volname, v] of Object.entries(s.volumes)) {
      if (v.onDisk && !seen.has(volname)) delete s.volumes[volname];
    }
  }

  private describe(file: string, content: FileContentType, format: string, size: number, ctime: number): VolumeState {
    const volume: VolumeState = { size, format, content, ctime, onDisk: true };
    // An import file's extension names its format (a `.raw` is raw whatever it holds); an ISO
    // directory image is probed, as qemu-img's auto-detection does.
    if (content === "import" && format === "raw") {
      volume.virtualSize = size;
      volume.imageFormat = "raw";
    } else if (content === "iso" || content === "import") {
      try {
        const info = imageVirtualSize(file);
        volume.virtualSize = info.virtualSize;
        volume.imageFormat = info.format;
      } catch {
        // unreadable: listed with its file size only
      }
    }
    return volume;
  }

  remove(storage: string, volname: string): void {
    rmSync(this.pathOf(storage, volname), { force: true });
  }

  /** Drops every stored file (simulator reset). */
  clear(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
