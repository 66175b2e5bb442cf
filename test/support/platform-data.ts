import { Redis } from "ioredis";
import pg from "pg";
import { platformEnv } from "./platform-env.js";

/** Runs `fn` with a client of the platform's PostgreSQL, closed afterwards. */
export async function withPg<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: platformEnv().DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Drops schemas a test made in the platform's PostgreSQL (runs, Terraform state). */
export async function dropSchemas(...schemas: string[]): Promise<void> {
  await withPg(async (c) => {
    for (const schema of schemas) await c.query(`drop schema if exists ${schema} cascade`);
  });
}

/** Deletes the Redis keys under a test's queue prefix. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(platformEnv().REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}
