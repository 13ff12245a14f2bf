import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  children,
  DerError,
  decodeOid,
  decodeTime,
  octetString,
  oid,
  readNode,
  readWhole,
  sequence,
  smallInteger,
  Tag,
  time,
  unsignedInteger,
} from "../../certs/der.js";
import { parseDuration } from "../../certs/index.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("DER", () => {
  it("encodes OIDs as X.690 says, and decodes them back", () => {
    assert.equal(hex(oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
    assert.equal(hex(oid("2.5.29.17")), "0603551d11");
    for (const o of ["1.2.840.113549.1.9.14", "2.999.3", "1.3.6.1.5.5.7.3.2"]) {
      assert.equal(decodeOid(readWhole(oid(o))), o);
    }
  });

  it("encodes non-negative integers minimally, with a leading zero when the high bit is set", () => {
    assert.equal(hex(smallInteger(0)), "020100");
    assert.equal(hex(smallInteger(127)), "02017f");
    assert.equal(hex(smallInteger(128)), "02020080");
    assert.equal(hex(unsignedInteger(Uint8Array.of(0, 0, 5))), "020105");
  });

  it("uses UTCTime through 2049 and GeneralizedTime from 2050, and round-trips both", () => {
    const utc = new Date("2049-12-31T23:59:59Z");
    const gen = new Date("2050-01-01T00:00:00Z");
    assert.equal(time(utc)[0], Tag.UTC_TIME);
    assert.equal(time(gen)[0], Tag.GENERALIZED_TIME);
    assert.equal(decodeTime(readWhole(time(utc))).toISOString(), utc.toISOString());
    assert.equal(decodeTime(readWhole(time(gen))).toISOString(), gen.toISOString());
  });

  it("encodes long lengths in long form and reads nested structures", () => {
    const big = sequence(octetString(Buffer.alloc(300, 1)), smallInteger(7));
    assert.equal(hex(big.subarray(0, 4)), "30820133"); // 304 + 3 content bytes
    const [first, second] = children(readWhole(big));
    assert.equal(first?.end, 4 + 4 + 300);
    assert.equal(second?.tag, Tag.INTEGER);
  });

  const malformed: [string, Uint8Array][] = [
    ["indefinite length", Uint8Array.of(0x30, 0x80, 0, 0)],
    ["content past the end", Uint8Array.of(0x30, 0x05, 1, 2)],
    ["truncated long length", Uint8Array.of(0x30, 0x82, 0x01)],
    ["a lone byte", Uint8Array.of(0x30)],
  ];
  for (const [what, bytes] of malformed) {
    it(`refuses ${what}`, () => assert.throws(() => readNode(bytes), DerError));
  }
  it("refuses trailing bytes after the outer structure", () => {
    assert.throws(() => readWhole(Uint8Array.of(0x05, 0x00, 0x00)), /trailing bytes/);
  });

  it("parses command-line durations", () => {
    assert.equal(parseDuration("24h"), 86_400_000);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("15m"), 900_000);
    assert.equal(parseDuration("7d"), 604_800_000);
    assert.equal(parseDuration("10"), undefined);
    assert.equal(parseDuration("1x"), undefined);
    assert.equal(parseDuration("h"), undefined);
  });
});
