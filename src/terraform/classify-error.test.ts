import { describe, expect, it } from "vitest";
import { classifyFailure } from "./classify-error.js";

const kind = (...texts: string[]) => classifyFailure({ texts });

describe("classifyFailure", () => {
  it("recognises a held state lock", () => {
    expect(kind("Error acquiring the state lock\nError message: Workspace is already locked: vm1")).toBe("lock");
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
