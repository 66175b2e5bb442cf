/**
 * Naming rules of file-based storage content, after pve-storage (PVE::Storage's extension
 * regexes, normalize_content_filename, PVE::Storage::Plugin's vtype subdirectories and the
 * formats its directory listing reports). Pure: no state, no file system.
 */
import { paramError } from "./errors.js";

/** Content types stored as plain files in a directory storage (not VM images). */
export const FILE_CONTENT_TYPES = ["iso", "vztmpl", "snippets", "import", "backup"] as const;
export type FileContentType = (typeof FILE_CONTENT_TYPES)[number];

/** PVE::Storage::Plugin's $vtype_subdirs: where each content type lives under the storage path. */
export const CONTENT_SUBDIRS: Record<FileContentType | "images" | "rootdir", string> = {
  images: "images",
  rootdir: "private",
  iso: "template/iso",
  vztmpl: "template/cache",
  backup: "dump",
  snippets: "snippets",
  import: "import",
};

const ISO_EXT = /\.(?:iso|img)$/i;
const VZTMPL_EXT = /\.(?:(tar)|tar\.(gz|xz|zst|bz2))$/i;
const IMPORT_EXT = /\.(ova|ovf|qcow2|raw|vmdk)$/;
const UPLOAD_IMPORT_EXT = /\.(ova|qcow2|raw|vmdk)$/;
const SAFE_NAME = /^[a-zA-Z0-9\-.+=_]+$/;

export function isFileContentType(content: string): content is FileContentType {
  return (FILE_CONTENT_TYPES as readonly string[]).includes(content);
}

/** PVE::Storage::normalize_content_filename: basename only, unsafe characters become `_`. */
export function normalizeContentFilename(filename: string): string {
  return filename
    .replace(/\n$/, "")
    .replace(/^.*[/\\]/, "")
    .replace(/[^a-zA-Z0-9_.-]/g, "_");
}

/**
 * The filename checks of the upload and download-url APIs (iso, vztmpl, import); throws
 * Proxmox's parameter errors. Returns the image format an import file declares, if any.
 */
export function checkTransferFilename(content: string, filename: string, messages: { otherContent: string }): string | undefined {
  if (content === "iso") {
    if (!/[^/]\.(?:iso|img)$/i.test(filename)) throw paramError({ filename: "wrong file extension" });
    return undefined;
  }
  if (content === "vztmpl") {
    if (!/[^/]\.(?:tar|tar\.(?:gz|xz|zst|bz2))$/i.test(filename)) throw paramError({ filename: "wrong file extension" });
    return undefined;
  }
  if (content === "import") {
    const m = UPLOAD_IMPORT_EXT.exec(filename);
    const stem = m ? filename.slice(0, -m[0].length) : "";
    if (!m || stem === "" || !SAFE_NAME.test(stem)) throw paramError({ filename: "invalid filename or wrong extension" });
    return m[1] === "ova" ? undefined : m[1];
  }
  throw paramError({ content: messages.otherContent.replace("%s", content) });
}

/**
 * The volume name and format a file in a content subdirectory is listed with (the directory
 * plugin's get_subdir_files); undefined when the listing skips it (wrong extension).
 */
export function listedFile(content: FileContentType, file: string): { volname: string; format: string } | undefined {
  switch (content) {
    case "iso":
      return ISO_EXT.test(file) ? { volname: `iso/${file}`, format: "iso" } : undefined;
    case "vztmpl": {
      const m = VZTMPL_EXT.exec(file);
      if (!m) return undefined;
      return { volname: `vztmpl/${file}`, format: m[1] ? "tar" : `t${m[2]}` };
    }
    case "snippets":
      return { volname: `snippets/${file}`, format: "snippet" };
    case "import": {
      const m = IMPORT_EXT.exec(file);
      if (!m || !SAFE_NAME.test(file)) return undefined;
      return { volname: `import/${file}`, format: m[1] as string };
    }
    case "backup":
      return /\.(tgz|(?:tar|vma)(?:\.(gz|lzo|zst|bz2|xz))?)$/.test(file) ? { volname: `backup/${file}`, format: "vma" } : undefined;
  }
}

/** The content type of a non-image volume name (`iso/x.iso` -> iso), if it has one. */
export function contentOfVolname(volname: string): FileContentType | undefined {
  const head = volname.split("/")[0] ?? "";
  return isFileContentType(head) && volname.includes("/") ? head : undefined;
}
