/**
 * The simulator's self-signed TLS certificate (EC P-256, CN=pve-sim, SAN 127.0.0.1/localhost),
 * made with the openssl CLI once and cached under the OS temp dir, so starting the simulator
 * many times in a test run costs one openssl call at most. Concurrent first starts race
 * safely: each writes into its own directory and renames it into place.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface Certificate {
  key: string;
  cert: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex, as Proxmox shows it. */
  fingerprint: string;
}

let cached: Certificate | undefined;

function cacheDir(): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  return path.join(os.tmpdir(), `pve-sim-cert-v1-${uid}`);
}

function readCert(dir: string): Certificate | undefined {
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  if (!existsSync(keyFile) || !existsSync(certFile)) return undefined;
  const key = readFileSync(keyFile, "utf8");
  const cert = readFileSync(certFile, "utf8");
  try {
    const x509 = new X509Certificate(cert);
    if (new Date(x509.validTo).getTime() < Date.now() + 86_400_000) return undefined;
    return { key, cert, fingerprint: x509.fingerprint256 };
  } catch {
    return undefined;
  }
}

function generate(dir: string): void {
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      path.join(dir, "key.pem"),
      "-out",
      path.join(dir, "cert.pem"),
      "-days",
      "3650",
      "-subj",
      "/CN=pve-sim/O=PVE Simulator",
      "-addext",
      "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:pve1",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
}

export function simulatorCertificate(): Certificate {
  if (cached) return cached;
  const dir = cacheDir();
  const existing = readCert(dir);
  if (existing) return (cached = existing);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "pve-sim-cert-"));
  try {
    generate(tmp);
    const made = readCert(tmp);
    if (!made) throw new Error("openssl did not produce a usable certificate");
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch {
      // another process won the race; its certificate is as good as ours
    }
    return (cached = readCert(dir) ?? made);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
