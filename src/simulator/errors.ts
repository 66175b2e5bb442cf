/**
 * Errors in the shapes Proxmox VE's API server produces.
 *
 * - Parameter errors: HTTP 400, status line "Parameter verification failed.", body
 *   `{"data":null,"errors":{"param":"message"},"message":"Parameter verification failed.\n"}`.
 * - Everything else a handler dies with: HTTP 500 (or the given code), the message's first line
 *   as the status line, body `{"data":null,"message":"<message>\n"}`.
 */
export class PveError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
    this.name = "PveError";
  }
}

/** A handler failure: Proxmox answers 500 with the message as the status text. */
export function fail(message: string, status = 500): PveError {
  return new PveError(status, message);
}

/** A parameter verification failure (400) for one or more parameters. */
export function paramError(errors: Record<string, string>): PveError {
  return new PveError(400, "Parameter verification failed.", errors);
}

/** The exact message Proxmox's flock-based config lock gives after its wait runs out. */
export function lockTimeoutMessage(vmid: number): string {
  return `can't lock file '/var/lock/qemu-server/lock-${vmid}.conf' - got timeout`;
}

/** The message of `PVE::QemuConfig->load_config` for a VM that is not on the node. */
export function missingConfigMessage(node: string, vmid: number): string {
  return `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`;
}

/** What a node's API proxy answers when the target node cannot be reached: a status line, no body. */
export class ProxyError extends PveError {}
