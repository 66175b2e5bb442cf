// VMs: one store for every view, and the runs seen so far.

/* global setTimeout, clearTimeout */

import { api } from "./api.js";
import { vmKey } from "./model.js";

/**
 * All ProxmoxVMs the sidecar shows. load() takes a snapshot; live events that arrive while it is
 * on its way are queued and replayed on top of it, so neither an older snapshot nor an older
 * event wins.
 */
class VmStore {
  constructor() {
    this.vms = new Map();
    this.loaded = false;
    this.error = null;
    this.queue = null;
    this.generation = 0;
    this.retryTimer = undefined;
    this.listeners = new Set();
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change) {
    for (const listener of this.listeners) listener(change);
  }

  async load() {
    const generation = ++this.generation;
    this.queue ??= [];
    try {
      const body = await api("vms");
      if (generation !== this.generation) return;
      this.vms = new Map((body.items ?? []).map((vm) => [vmKey(vm.namespace, vm.name), vm]));
      this.loaded = true;
      this.error = null;
    } catch (error) {
      if (generation !== this.generation) return;
      this.error = error;
      // 503: the sidecar's VM cache is still filling (it just started); ask again shortly.
      if (error.status === 503) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => void this.load(), 1500);
      }
    }
    const queued = this.queue ?? [];
    this.queue = null;
    for (const event of queued) this.apply(event);
    this.emit({ kind: "snapshot" });
  }

  event(event) {
    if (!event?.vm) return;
    if (this.queue) {
      this.queue.push(event);
      return;
    }
    this.apply(event);
    this.emit({ kind: event.type === "delete" ? "delete" : "upsert", key: vmKey(event.vm.namespace, event.vm.name) });
  }

  apply(event) {
    const key = vmKey(event.vm.namespace, event.vm.name);
    if (event.type === "delete") this.vms.delete(key);
    else this.vms.set(key, event.vm);
  }

  get(namespace, name) {
    return this.vms.get(vmKey(namespace, name));
  }
}

export const vmStore = new VmStore();
/** Runs seen anywhere on the page, so opening one from a list shows its header at once. */
export const runCache = new Map();
