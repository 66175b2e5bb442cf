/**
 * `npx tsx src/simulator/image-mirror-cli.ts [--port N]`: serves the loopback cloud image
 * mirror (image-mirror.ts) and prints PROXMOX_VE_ACC_CLOUD_IMAGES_SERVER=<url> (sourceable) for
 * the provider's acceptance tests, until SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { startImageMirror } from "./image-mirror.js";

const { values } = parseArgs({ options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" } } });
const mirror = await startImageMirror({ port: Number(values.port), host: values.host });
console.log(`PROXMOX_VE_ACC_CLOUD_IMAGES_SERVER=${mirror.url}`);
const stop = () => void mirror.close().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
