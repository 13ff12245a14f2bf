import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  isValidLabelKey,
  isValidLabelValue,
  type LabelSelector,
  labelKeyError,
  labelValueError,
  matchesLabelMap,
  matchesSelector,
} from "../../api/index.js";

const web = { app: "web", tier: "frontend", version: "v2" };

describe("matchesSelector", () => {
  const cases: [string, LabelSelector | undefined, Record<string, string> | undefined, boolean][] =
    [
      ["undefined selects everything", undefined, web, true],
      ["{} selects everything", {}, web, true],
      ["{} selects unlabelled objects", {}, undefined, true],
      ["matchLabels equal", { matchLabels: { app: "web" } }, web, true],
      ["matchLabels all must hold", { matchLabels: { app: "web", tier: "backend" } }, web, false],
      ["matchLabels missing key", { matchLabels: { zone: "a" } }, web, false],
      [
        "In hit",
        { matchExpressions: [{ key: "version", operator: "In", values: ["v1", "v2"] }] },
        web,
        true,
      ],
      [
        "In miss",
        { matchExpressions: [{ key: "version", operator: "In", values: ["v1"] }] },
        web,
        false,
      ],
      [
        "In absent key",
        { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] },
        web,
        false,
      ],
      [
        "NotIn hit",
        { matchExpressions: [{ key: "version", operator: "NotIn", values: ["v2"] }] },
        web,
        false,
      ],
      [
        "NotIn miss",
        { matchExpressions: [{ key: "version", operator: "NotIn", values: ["v1"] }] },
        web,
        true,
      ],
      [
        "NotIn absent key matches",
        { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] },
        web,
        true,
      ],
      ["Exists", { matchExpressions: [{ key: "tier", operator: "Exists" }] }, web, true],
      ["Exists absent", { matchExpressions: [{ key: "zone", operator: "Exists" }] }, web, false],
      [
        "DoesNotExist",
        { matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] },
        web,
        true,
      ],
      [
        "DoesNotExist present",
        { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] },
        web,
        false,
      ],
      [
        "labels AND expressions",
        {
          matchLabels: { app: "web" },
          matchExpressions: [{ key: "version", operator: "In", values: ["v1"] }],
        },
        web,
        false,
      ],
    ];
  for (const [name, selector, labels, want] of cases) {
    it(name, () => assert.equal(matchesSelector(selector, labels), want));
  }
});

describe("matchesLabelMap (Service selector semantics)", () => {
  it("matches when every pair holds", () => {
    assert.equal(matchesLabelMap({ app: "web" }, web), true);
    assert.equal(matchesLabelMap({ app: "web", tier: "backend" }, web), false);
    assert.equal(matchesLabelMap({ app: "web" }, undefined), false);
  });
  it("an empty or absent map selects nothing", () => {
    assert.equal(matchesLabelMap({}, web), false);
    assert.equal(matchesLabelMap(undefined, web), false);
  });
});

describe("label keys and values", () => {
  const keys: [string, boolean][] = [
    ["app", true],
    ["app.kubernetes.io/name", true],
    ["kubernetes.io/service-name", true],
    ["A_b.c-D", true],
    ["a".repeat(63), true],
    ["a".repeat(64), false],
    ["", false],
    ["-app", false],
    ["app-", false],
    ["/app", false],
    ["Example.com/app", false],
    ["example.com/", false],
    ["a/b/c", false],
    ["sp ace", false],
  ];
  for (const [key, ok] of keys) {
    it(`key ${JSON.stringify(key.slice(0, 20))} is ${ok ? "valid" : "invalid"}`, () => {
      assert.equal(isValidLabelKey(key), ok);
      assert.equal(labelKeyError(key) === undefined, ok);
    });
  }
  const values: [string, boolean][] = [
    ["", true],
    ["v1.2_3-x", true],
    ["a".repeat(63), true],
    ["a".repeat(64), false],
    ["-v", false],
    ["v/1", false],
  ];
  for (const [value, ok] of values) {
    it(`value ${JSON.stringify(value.slice(0, 20))} is ${ok ? "valid" : "invalid"}`, () => {
      assert.equal(isValidLabelValue(value), ok);
    });
  }
  it("says what is wrong", () => {
    assert.match(labelKeyError("a".repeat(64)) ?? "", /longer than 63/);
    assert.match(labelKeyError("Bad_Prefix/x") ?? "", /DNS subdomain/);
    assert.match(labelValueError("-v") ?? "", /starting and ending with a letter or digit/);
  });
});
