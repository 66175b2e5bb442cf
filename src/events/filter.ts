/**
 * Which events an SSE connection wants: `namespace` and `name` select a VM (or every VM of a
 * namespace, or every VM of that name); `run` selects one run's `run` and `log` events (VM
 * events carry no run and do not match). All given parts must match.
 */
export interface EventFilter {
  namespace?: string;
  name?: string;
  run?: string;
}

export function matchesFilter(filter: EventFilter, event: { namespace: string; name: string; runId?: string | undefined }): boolean {
  if (filter.namespace !== undefined && event.namespace !== filter.namespace) return false;
  if (filter.name !== undefined && event.name !== filter.name) return false;
  if (filter.run !== undefined && event.runId !== filter.run) return false;
  return true;
}
