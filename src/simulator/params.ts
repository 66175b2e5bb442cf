/**
 * API parameter verification in Proxmox's terms: every parameter must be declared (unless the
 * method allows additional properties), required ones must be present, and values must pass
 * their type/enum/pattern checks. Failures are collected into one 400 "Parameter verification
 * failed." with an `errors` map, as the real API server does.
 */
import { checkValue, parseBoolean, type PropKey } from "./config-strings.js";
import { paramError } from "./errors.js";

export type ParamSpec = Record<string, PropKey>;

export const NODE_PARAM: PropKey = { type: "string", pattern: /[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?/ };
export const VMID_PARAM: PropKey = { type: "integer", minimum: 100, maximum: 999999999 };
export const STORAGE_PARAM: PropKey = { type: "string", pattern: /[a-zA-Z][a-zA-Z0-9\-_.]*[a-zA-Z0-9]/ };

export function checkParams(
  params: Record<string, string>,
  spec: ParamSpec,
  options: { additional?: (key: string, value: string) => string | undefined } = {},
): Record<string, string> {
  const errors: Record<string, string> = {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    const s = spec[key];
    if (!s) {
      if (options.additional) {
        const problem = options.additional(key, value);
        if (problem) errors[key] = problem;
        else out[key] = value;
      } else {
        errors[key] = "property is not defined in schema and the schema does not allow additional properties";
      }
      continue;
    }
    const problem = checkValue(s, value);
    if (problem) errors[key] = problem;
    else out[key] = s.type === "boolean" ? (parseBoolean(value) ?? value) : value;
  }
  for (const [key, s] of Object.entries(spec)) {
    if (!s.optional && params[key] === undefined) errors[key] = "property is missing and it is not optional";
  }
  if (Object.keys(errors).length > 0) throw paramError(errors);
  return out;
}

export function boolParam(value: string | undefined, fallback = false): boolean {
  if (value === undefined) return fallback;
  return parseBoolean(value) === "1";
}
