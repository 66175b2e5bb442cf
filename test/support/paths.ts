import { fileURLToPath } from "node:url";
import path from "node:path";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const platformDir = process.env.PTM_PLATFORM_DIR ?? path.join(repoRoot, ".platform");
