/** Status code of an error thrown by @kubernetes/client-node 1.x (ApiException), if any. */
export function statusCodeOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return undefined;
}

export const isNotFound = (error: unknown): boolean => statusCodeOf(error) === 404;
export const isForbidden = (error: unknown): boolean => statusCodeOf(error) === 403;
export const isConflict = (error: unknown): boolean => statusCodeOf(error) === 409;
