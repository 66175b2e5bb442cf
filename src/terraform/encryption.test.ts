import { describe, expect, it } from "vitest";
import { encryptionConfig, escapeHclTemplate, KEY_PROVIDER_SCRIPT, keyEncryptionConfig } from "./encryption.js";

describe("encryptionConfig", () => {
  it("configures pbkdf2 → aes_gcm, enforced for state and plan, with plain references", () => {
    expect(JSON.parse(encryptionConfig("correct horse battery staple"))).toEqual({
      key_provider: { pbkdf2: { ptm: { passphrase: "correct horse battery staple" } } },
      method: { aes_gcm: { ptm: { keys: "key_provider.pbkdf2.ptm" } } },
      state: { method: "method.aes_gcm.ptm", enforced: true },
      plan: { method: "method.aes_gcm.ptm", enforced: true },
    });
  });

  it("escapes HCL template sequences in the passphrase", () => {
    expect(escapeHclTemplate("a${b}c%{d}$e%f")).toBe("a$${b}c%%{d}$e%f");
    const cfg = JSON.parse(encryptionConfig("0123456789 ${var.x} %{if}")) as { key_provider: { pbkdf2: { ptm: { passphrase: string } } } };
    expect(cfg.key_provider.pbkdf2.ptm.passphrase).toBe("0123456789 $${var.x} %%{if}");
  });

  it("refuses a passphrase shorter than pbkdf2 accepts", () => {
    expect(() => encryptionConfig("too short")).toThrow(/at least 16 characters/);
  });
});

describe("keyEncryptionConfig", () => {
  const command = (file: string) => ["/bin/sh", "-c", KEY_PROVIDER_SCRIPT, "ptm-state-key", file];

  it("uses the external key provider with the key file's path only, aes_gcm, enforced for state and plan", () => {
    const config = JSON.parse(keyEncryptionConfig({ currentKeyFile: "/w/.state-keys/a.key" })) as Record<string, unknown>;
    expect(config).toEqual({
      key_provider: { external: { current: { command: command("/w/.state-keys/a.key") } } },
      method: { aes_gcm: { current: { keys: "key_provider.external.current" } } },
      state: { method: "method.aes_gcm.current", enforced: true },
      plan: { method: "method.aes_gcm.current", enforced: true },
    });
  });

  it("chains the previous key, then an earlier passphrase, as fallbacks", () => {
    const config = JSON.parse(keyEncryptionConfig({ currentKeyFile: "/k/new", previousKeyFiles: ["/k/old"], previousPassphrase: "an earlier passphrase" })) as {
      key_provider: Record<string, unknown>;
      state: unknown;
    };
    expect(config.key_provider).toEqual({
      external: { current: { command: command("/k/new") }, previous_1: { command: command("/k/old") } },
      pbkdf2: { ptm: { passphrase: "an earlier passphrase" } },
    });
    expect(config.state).toEqual({
      method: "method.aes_gcm.current",
      fallback: { method: "method.aes_gcm.previous_1", fallback: { method: "method.aes_gcm.passphrase" } },
      enforced: true,
    });
  });

  it("reads plain text last when migrating, and then cannot be enforced (OpenTofu forbids it)", () => {
    const config = JSON.parse(keyEncryptionConfig({ currentKeyFile: "/k/new", readPlaintext: true })) as { method: Record<string, unknown>; plan: unknown };
    expect(config.method.unencrypted).toEqual({ plaintext: {} });
    expect(config.plan).toEqual({ method: "method.aes_gcm.current", fallback: { method: "method.unencrypted.plaintext" } });
  });

  it("has a key provider script without HCL template sequences", () => {
    expect(KEY_PROVIDER_SCRIPT).not.toMatch(/\$\{|%\{/);
  });
});
