import { describe, expect, it } from "vitest";
import { canonicalJson, canonicalize } from "./canonical-json.js";
import { synthesisHash } from "./synthesis-hash.js";

describe("canonicalJson", () => {
  it("sorts keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }, 3] })).toBe(canonicalJson({ a: [{ c: 2, d: 1 }, 3], b: 1 }));
    expect(canonicalize({ b: 1, a: { z: 1, y: 2 } })).toEqual({ a: { y: 2, z: 1 }, b: 1 });
    expect(Object.keys(canonicalize({ b: 1, a: 2 }) as object)).toEqual(["a", "b"]);
    expect(canonicalize([3, 1, 2])).toEqual([3, 1, 2]);
  });

  it('drops "//" metadata and undefined members, keeps null', () => {
    expect(canonicalize({ "//": { metadata: {} }, a: { "//": "x", b: undefined, c: null } })).toEqual({ a: { c: null } });
  });

  it("indents with two spaces", () => {
    expect(canonicalJson({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}');
  });
});

describe("synthesisHash", () => {
  it("separates its parts so that moving text between them changes the hash", () => {
    expect(synthesisHash("{}", "0.1", "tofu 1")).not.toBe(synthesisHash("{}0", ".1", "tofu 1"));
    expect(synthesisHash("{}", "0.1", "tofu 1")).toBe(synthesisHash("{}", "0.1", "tofu 1"));
  });
});
