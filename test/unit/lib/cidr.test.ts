import assert from "node:assert/strict";
import { test } from "node:test";
import { cidrContains, parseAddressRange } from "../../../lib/cidr";

test("an NSG address range is read as Azure keeps it: a lone address is a /32, host bits are dropped", () => {
  assert.deepEqual(parseAddressRange("203.0.113.7"), {
    text: "203.0.113.7",
    base: parseAddressRange("203.0.113.7/32")!.base,
    prefix: 32,
  });
  assert.equal(parseAddressRange("10.10.1.77/24")!.base, parseAddressRange("10.10.1.0/24")!.base);
  assert.ok(cidrContains(parseAddressRange("10.10.0.0/16")!, parseAddressRange("10.10.1.77/24")!));
});

test("a service tag, a wildcard or a malformed range is no address range", () => {
  for (const text of ["VirtualNetwork", "*", "10.10.1.0/33", "10.10.1/24", "10.10.1.0/24/1", "010.10.1.0/24"]) {
    assert.equal(parseAddressRange(text), undefined, text);
  }
});
