/**
 * The ownership marker: a Proxmox tag on every VM naming the uid of the ProxmoxVM that owns it,
 * so adoption can tell this resource's VM from someone else's at the same id, and the
 * connection check can find VMs whose resource is gone.
 *
 * A tag rather than a description line: tags are a set the provider and Proxmox treat as data
 * (`tags` in the VM config, `;`-separated), survive clones and backups, and the web UI shows
 * them. Proxmox accepts a tag matching `^(?i)[a-z0-9_][a-z0-9_\-+.]*$` (pve-common's `pve-tag`
 * format); a Kubernetes uid is lower-case hex and `-`, so `ptm-owner-<uid>` always fits.
 */
export const OWNERSHIP_TAG_PREFIX = "ptm-owner-";

const PVE_TAG = /^[a-z0-9_][a-z0-9_\-+.]*$/i;

export function ownershipTag(uid: string): string {
  const tag = `${OWNERSHIP_TAG_PREFIX}${uid}`;
  if (uid === "" || !PVE_TAG.test(tag)) throw new TypeError(`uid ${JSON.stringify(uid)} cannot be written as a Proxmox tag`);
  return tag;
}

/** The uid an ownership tag names, or undefined for any other tag. */
export function ownerUidOfTag(tag: string): string | undefined {
  return tag.startsWith(OWNERSHIP_TAG_PREFIX) && tag.length > OWNERSHIP_TAG_PREFIX.length ? tag.slice(OWNERSHIP_TAG_PREFIX.length) : undefined;
}
