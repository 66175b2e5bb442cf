import { describe, expect, it } from "vitest";
import { encryptionConfig, escapeHclTemplate } from "./encryption.js";

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
