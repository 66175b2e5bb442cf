/**
 * The node's SSH endpoint (one per node, on loopback): what the provider reaches over SSH for
 * snippet and file uploads (SFTP, or `tee` over exec) and `qm disk import`. Logins are the
 * node's Linux users, i.e. the `@pam` users of the seed: a password login checks the user's
 * password, a key login the user's `sshKeys`. exec requests run in the node's shell
 * (node-shell.ts), the `sftp` subsystem on the node's file system view (node-sftp.ts).
 *
 * The host key is kept (generated once) in the simulator's cache directory so a client's
 * known_hosts stays valid from one simulator run to the next, as a real node's key does.
 */
import { generateKeyPairSync, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { homedir } from "node:os";
import path from "node:path";
import ssh2, { type Connection, type ParsedKey } from "ssh2";
import { passwordMatches, userUsable } from "./access.js";
import type { SimContext } from "./context.js";
import { NodeShell } from "./node-shell.js";
import { serveSftp } from "./node-sftp.js";

export interface NodeSshEndpoint {
  node: string;
  address: string;
  port: number;
  close(): Promise<void>;
}

/** The cached host key, created on first use. */
function hostKey(): string {
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "pve-sim");
  const file = path.join(dir, "ssh_host_rsa_key");
  if (existsSync(file)) return readFileSync(file, "utf8");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "pkcs1", format: "pem" } });
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, privateKey, { mode: 0o600 });
  return privateKey;
}

function keyMatches(allowed: string[], offered: { algo: string; data: Buffer }): ParsedKey | undefined {
  for (const line of allowed) {
    const parsed = ssh2.utils.parseKey(line);
    if (parsed instanceof Error) continue;
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key) continue;
    const pub = key.getPublicSSH();
    if (key.type === offered.algo && pub.length === offered.data.length && timingSafeEqual(pub, offered.data)) return key;
  }
  return undefined;
}

function authenticateClient(client: Connection, ctx: () => SimContext): void {
  client.on("authentication", (auth) => {
    const user = ctx().state.users[`${auth.username}@pam`];
    const usable = userUsable(user, Date.now() / 1000);
    if (auth.method === "password" && usable && passwordMatches(user?.passwordHash, auth.password)) return auth.accept();
    if (auth.method === "publickey" && usable) {
      const key = keyMatches(user?.sshKeys ?? [], auth.key);
      if (key) {
        // Without a signature the client only asks whether the key would do.
        if (!auth.signature || key.verify(auth.blob as Buffer, auth.signature, auth.hashAlgo) === true) return auth.accept();
      }
    }
    auth.reject(["password", "publickey"]);
  });
}

export async function startNodeSsh(ctx: () => SimContext, node: string, host = "127.0.0.1", port = 0): Promise<NodeSshEndpoint> {
  const shell = new NodeShell(ctx, node);
  await shell.listen();
  const clients = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [hostKey()], ident: "OpenSSH_9.2p1 Debian-2+deb12u6" }, (client) => {
    clients.add(client);
    client.on("close", () => clients.delete(client));
    client.on("error", () => clients.delete(client));
    authenticateClient(client, ctx);
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        session.on("exec", (accept, _reject, info) => {
          const channel = accept();
          const child = shell.spawn(info.command);
          channel.pipe(child.stdin);
          child.stdout.pipe(channel, { end: false });
          child.stderr.pipe(channel.stderr, { end: false });
          child.on("close", (code, signal) => {
            if (signal) channel.exit(signal.replace(/^SIG/, ""), false, "");
            else channel.exit(code ?? 255);
            channel.end();
          });
          channel.on("close", () => child.kill());
        });
        session.on("sftp", (accept) => {
          const sftp = accept();
          serveSftp(
            sftp,
            (p) => shell.hostPath(p),
            () => {
              const c = ctx();
              for (const s of Object.values(c.state.storages)) c.files.rescan(s);
              c.changed();
            },
          );
        });
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    node,
    address: host,
    port: address.port,
    close: async () => {
      for (const c of clients) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await shell.close();
    },
  };
}
