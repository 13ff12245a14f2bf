// The rule builders against golden files (UPDATE_GOLDEN=1 rewrites them), and the
// annotation parsing that feeds them.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  Annotation,
  decideRedirect,
  type RedirectConfig,
} from "../../cni-redirect/redirect-config.js";
import {
  IPT_JUMPS,
  iptablesApplyScript,
  iptablesDeleteScript,
} from "../../cni-redirect/rules-iptables.js";
import { nftApplyScript, nftTable } from "../../cni-redirect/rules-nft.js";
import { repoRoot } from "../helpers/sandbox.js";

const goldenDir = join(repoRoot, "test", "cni-redirect", "golden");

function golden(name: string, actual: string): void {
  const file = join(goldenDir, name);
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(file, actual);
  assert.equal(
    actual,
    readFileSync(file, "utf8"),
    `${name} differs from its golden file (UPDATE_GOLDEN=1 npm test -- rules rewrites it)`,
  );
}

function configFor(annotations: Record<string, string>): RedirectConfig {
  const d = decideRedirect({
    namespace: "default",
    name: "web",
    excludeNamespaces: [],
    annotations: { [Annotation.inject]: "true", ...annotations },
  });
  assert.ok(d.meshed);
  return d.config;
}

const cases: Record<string, Record<string, string>> = {
  default: {},
  "excluded-ports": {
    [Annotation.excludeOutboundPorts]: "6379, 5432",
    [Annotation.excludeInboundPorts]: "8081",
  },
  "excluded-cidrs": {
    [Annotation.excludeOutboundIpRanges]:
      "10.96.0.10,169.254.0.0/16,10.0.0.0/8,10.1.2.3/16,fd00:10::/64,2001:DB8:0:0:0:0:0:1",
  },
  "dns-capture": { [Annotation.captureDns]: "true" },
  everything: {
    [Annotation.excludeOutboundPorts]: Array.from({ length: 17 }, (_, i) => 3000 + i).join(","),
    [Annotation.excludeInboundPorts]: "8081,9901",
    [Annotation.excludeOutboundIpRanges]: "192.168.0.0/16,fd00::/8",
    [Annotation.captureDns]: "true",
  },
};

describe("nftables rules", () => {
  for (const [name, annotations] of Object.entries(cases)) {
    it(`match the golden file: ${name}`, () =>
      golden(`${name}.nft`, nftApplyScript(configFor(annotations))));
  }
  it("replace the table in one transaction: add, delete, then the table", () => {
    const script = nftApplyScript(configFor({}));
    assert.ok(
      script.startsWith(
        "add table inet trellis\ndelete table inet trellis\ntable inet trellis {\n",
      ),
    );
    assert.equal(script.slice(script.indexOf("table inet trellis {")), nftTable(configFor({})));
  });
});

describe("iptables rules", () => {
  for (const name of ["default", "everything"]) {
    for (const family of ["ipv4", "ipv6"] as const) {
      it(`match the golden file: ${name}, ${family}`, () =>
        golden(
          `${name}.${family}.iptables`,
          iptablesApplyScript(configFor(cases[name] ?? {}), family, false),
        ));
    }
  }
  it("delete and re-add the jumps when they are already hooked, in the same COMMIT", () => {
    const script = iptablesApplyScript(configFor({}), "ipv4", true);
    const lines = script.split("\n");
    assert.ok(
      lines.indexOf("-D OUTPUT -j TRELLIS_OUTPUT") < lines.indexOf("-A OUTPUT -j TRELLIS_OUTPUT"),
    );
    assert.equal(lines.filter((l) => l === "COMMIT").length, 1);
  });
  it("remove exactly the jumps found, then our chains", () => {
    assert.equal(
      iptablesDeleteScript([IPT_JUMPS[1]]),
      "*nat\n-D OUTPUT -j TRELLIS_OUTPUT\n-F TRELLIS_INBOUND\n-F TRELLIS_OUTPUT\n-X TRELLIS_INBOUND\n-X TRELLIS_OUTPUT\nCOMMIT\n",
    );
  });
});

describe("redirect decision", () => {
  it("meshes only pods annotated for injection, never in excluded namespaces", () => {
    const base = { namespace: "default", name: "web", excludeNamespaces: ["kube-system"] };
    assert.equal(decideRedirect({ ...base, annotations: {} }).meshed, false);
    assert.equal(
      decideRedirect({ ...base, annotations: { [Annotation.inject]: "false" } }).meshed,
      false,
    );
    assert.equal(
      decideRedirect({ ...base, annotations: { [Annotation.inject]: "true" } }).meshed,
      true,
    );
    const system = decideRedirect({
      ...base,
      namespace: "kube-system",
      annotations: { [Annotation.inject]: "true" },
    });
    assert.equal(system.meshed, false);
    assert.match(system.meshed ? "" : system.reason, /namespace kube-system is excluded/);
  });

  it("normalises CIDRs the way nft prints them, dropping ones a wider range covers", () => {
    const c = configFor({
      [Annotation.excludeOutboundIpRanges]:
        "10.1.2.3/8, 10.9.0.0/16, 192.168.1.7, ::1, 2001:db8::1:0:0:1/128",
    });
    assert.deepEqual(c.excludeOutboundCidrs, {
      ipv4: ["10.0.0.0/8", "192.168.1.7"],
      ipv6: ["::1", "2001:db8::1:0:0:1"],
    });
  });

  const bad: [string, string, RegExp][] = [
    [Annotation.excludeOutboundPorts, "http", /"http" is not a port/],
    [Annotation.excludeInboundPorts, "70000", /not a port/],
    [Annotation.excludeOutboundIpRanges, "10.0.0.0/33", /not an IP address or CIDR/],
    [Annotation.excludeOutboundIpRanges, "example.com", /not an IP address or CIDR/],
    [Annotation.captureDns, "yes", /want "true" or "false"/],
    [Annotation.inject, "1", /want "true" or "false"/],
  ];
  for (const [annotation, value, why] of bad) {
    it(`refuses ${annotation}=${value} with CNI code 7`, () => {
      assert.throws(
        () =>
          decideRedirect({
            namespace: "default",
            name: "web",
            excludeNamespaces: [],
            annotations: { [Annotation.inject]: "true", [annotation]: value },
          }),
        (err: { code?: number; message?: string }) =>
          err.code === 7 && why.test(err.message ?? "") && (err.message ?? "").includes(annotation),
      );
    });
  }
});
