/**
 * A node's SFTP subsystem: node paths are mapped onto host paths by the node's shell mapping
 * (storage paths land in the storage directories the simulator lists as content; anything else
 * in the node's root directory), and each request is answered from the real file system, as
 * OpenSSH's sftp-server does. After a write is closed the storage is rescanned so the upload
 * shows in content listings at once.
 */
import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmdirSync, statSync, unlinkSync, writeSync, chmodSync, type Stats } from "node:fs";
import type { Attributes, SFTPWrapper } from "ssh2";
import ssh2 from "ssh2";

const { STATUS_CODE } = ssh2.utils.sftp;

function attrsOf(st: Stats): Attributes {
  return { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000) };
}

function statusOf(err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return STATUS_CODE.NO_SUCH_FILE;
  if (code === "EACCES" || code === "EPERM") return STATUS_CODE.PERMISSION_DENIED;
  return STATUS_CODE.FAILURE;
}

function longname(name: string, st: Stats): string {
  const type = st.isDirectory() ? "d" : "-";
  const perms = [0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 0o4, 0o2, 0o1].map((bit, i) => (st.mode & bit ? "rwx"[i % 3] : "-")).join("");
  return `${type}${perms}    1 root     root     ${String(st.size).padStart(8)} ${new Date(st.mtimeMs).toDateString().slice(4)} ${name}`;
}

interface OpenFile {
  fd: number;
  written: boolean;
}

interface OpenDir {
  path: string;
  entries?: string[];
}

export function serveSftp(sftp: SFTPWrapper, hostPath: (nodePath: string) => string, onWritten: () => void): void {
  const files = new Map<string, OpenFile>();
  const dirs = new Map<string, OpenDir>();
  let next = 0;
  const newHandle = () => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(next++);
    return h;
  };
  const guard = (reqid: number, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      sftp.status(reqid, statusOf(err), (err as Error).message);
    }
  };

  sftp.on("OPEN", (reqid, filename, flags) =>
    guard(reqid, () => {
      const mode = ssh2.utils.sftp.flagsToString(flags) ?? "r";
      const fd = openSync(hostPath(filename), mode, 0o644);
      const handle = newHandle();
      files.set(handle.toString("hex"), { fd, written: mode !== "r" });
      sftp.handle(reqid, handle);
    }),
  );
  sftp.on("WRITE", (reqid, handle, offset, data) =>
    guard(reqid, () => {
      const f = files.get(handle.toString("hex"));
      if (!f) return sftp.status(reqid, STATUS_CODE.FAILURE, "invalid handle");
      writeSync(f.fd, data, 0, data.length, offset);
      f.written = true;
      sftp.status(reqid, STATUS_CODE.OK);
    }),
  );
  sftp.on("READ", (reqid, handle, offset, len) =>
    guard(reqid, () => {
      const f = files.get(handle.toString("hex"));
      if (!f) return sftp.status(reqid, STATUS_CODE.FAILURE, "invalid handle");
      const buf = Buffer.alloc(Math.min(len, 256 * 1024));
      const n = readSync(f.fd, buf, 0, buf.length, offset);
      if (n === 0) return sftp.status(reqid, STATUS_CODE.EOF);
      sftp.data(reqid, buf.subarray(0, n));
    }),
  );
  sftp.on("FSTAT", (reqid, handle) =>
    guard(reqid, () => {
      const f = files.get(handle.toString("hex"));
      if (!f) return sftp.status(reqid, STATUS_CODE.FAILURE, "invalid handle");
      sftp.attrs(reqid, attrsOf(fstatSync(f.fd)));
    }),
  );
  sftp.on("FSETSTAT", (reqid, handle, attrs) =>
    guard(reqid, () => {
      const f = files.get(handle.toString("hex"));
      if (!f) return sftp.status(reqid, STATUS_CODE.FAILURE, "invalid handle");
      if (attrs.mode !== undefined) fchmodSync(f.fd, attrs.mode & 0o7777);
      sftp.status(reqid, STATUS_CODE.OK);
    }),
  );
  sftp.on("CLOSE", (reqid, handle) =>
    guard(reqid, () => {
      const key = handle.toString("hex");
      const f = files.get(key);
      if (f) {
        closeSync(f.fd);
        files.delete(key);
        if (f.written) onWritten();
      } else if (!dirs.delete(key)) return sftp.status(reqid, STATUS_CODE.FAILURE, "invalid handle");
      sftp.status(reqid, STATUS_CODE.OK);
    }),
  );
  const stat = (reqid: number, p: string) => guard(reqid, () => sftp.attrs(reqid, attrsOf(statSync(hostPath(p)))));
  sftp.on("STAT", stat);
  sftp.on("LSTAT", stat);
  sftp.on("SETSTAT", (reqid, p, attrs) =>
    guard(reqid, () => {
      if (attrs.mode !== undefined) chmodSync(hostPath(p), attrs.mode & 0o7777);
      sftp.status(reqid, STATUS_CODE.OK);
    }),
  );
  sftp.on("MKDIR", (reqid, p) =>
    guard(reqid, () => {
      mkdirSync(hostPath(p));
      sftp.status(reqid, STATUS_CODE.OK);
    }),
  );
  sftp.on("RMDIR", (reqid, p) =>
    guard(reqid, () => {
      rmdirSync(hostPath(p));
      sftp.status(reqid, STATUS_CODE.OK);
    }),
  );
  sftp.on("REMOVE", (reqid, p) =>
    guard(reqid, () => {
      unlinkSync(hostPath(p));
      onWritten();
      sftp.status(reqid, STATUS_CODE.OK);
    }),
  );
  sftp.on("RENAME", (reqid, from, to) =>
    guard(reqid, () => {
      renameSync(hostPath(from), hostPath(to));
      onWritten();
      sftp.status(reqid, STATUS_CODE.OK);
    }),
  );
  sftp.on("REALPATH", (reqid, p) =>
    guard(reqid, () => {
      const abs = p.startsWith("/") ? p : `/root/${p}`;
      const normal = abs.split("/").reduce<string[]>((acc, part) => (part === "" || part === "." ? acc : part === ".." ? acc.slice(0, -1) : [...acc, part]), []);
      const name = `/${normal.join("/")}`;
      sftp.name(reqid, [{ filename: name, longname: name, attrs: {} as Attributes }]);
    }),
  );
  sftp.on("OPENDIR", (reqid, p) =>
    guard(reqid, () => {
      if (!statSync(hostPath(p)).isDirectory()) return sftp.status(reqid, STATUS_CODE.FAILURE, "not a directory");
      const handle = newHandle();
      dirs.set(handle.toString("hex"), { path: p });
      sftp.handle(reqid, handle);
    }),
  );
  sftp.on("READDIR", (reqid, handle) =>
    guard(reqid, () => {
      const d = dirs.get(handle.toString("hex"));
      if (!d) return sftp.status(reqid, STATUS_CODE.FAILURE, "invalid handle");
      if (d.entries) return sftp.status(reqid, STATUS_CODE.EOF);
      d.entries = readdirSync(hostPath(d.path));
      const dir = hostPath(d.path);
      const names = d.entries.map((name) => {
        const st = statSync(`${dir}/${name}`);
        return { filename: name, longname: longname(name, st), attrs: attrsOf(st) };
      });
      if (names.length === 0) return sftp.status(reqid, STATUS_CODE.EOF);
      sftp.name(reqid, names);
    }),
  );
  // The client's EOF ends the subsystem: close our side too, or the client waits for it forever.
  sftp.on("end", () => sftp.end());
  sftp.on("close", () => {
    for (const f of files.values()) closeSync(f.fd);
    files.clear();
  });
}
