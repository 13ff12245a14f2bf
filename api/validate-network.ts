// Validation and defaults for NetworkPolicy (networking.k8s.io/v1), with the API server's
// rules: peers name exactly one kind of source (selectors or an ipBlock), ipBlock CIDRs
// parse and their exceptions lie strictly inside them, port ranges run upwards.

import { cidrContains, parseCidr } from "./ip.js";
import {
  at,
  type Check,
  checkLabelSelector,
  checkNumberOrPortName,
  checkProtocol,
  type Rec,
  show,
} from "./validate-common.js";

export function checkNetworkPolicy(c: Check, obj: Rec): void {
  const spec = c.map(obj.spec, "spec", { required: true });
  if (!spec) return;
  checkLabelSelector(c, spec.podSelector, "spec.podSelector", { required: true });
  if (spec.policyTypes === undefined) {
    // The API server's default: Ingress always, Egress when there are egress rules.
    const egress = Array.isArray(spec.egress) && spec.egress.length > 0;
    spec.policyTypes = egress ? ["Ingress", "Egress"] : ["Ingress"];
  }
  const types = c.list(spec.policyTypes, "spec.policyTypes", { max: 2 }) ?? [];
  for (const [i, t] of types.entries())
    c.oneOf(t, ["Ingress", "Egress"], at("spec.policyTypes", i));
  for (const [rule, p] of c.maps(spec.ingress, "spec.ingress")) {
    checkPeers(c, rule.from, at(p, "from"));
    checkPorts(c, rule.ports, at(p, "ports"));
  }
  for (const [rule, p] of c.maps(spec.egress, "spec.egress")) {
    checkPeers(c, rule.to, at(p, "to"));
    checkPorts(c, rule.ports, at(p, "ports"));
  }
}

function checkPeers(c: Check, v: unknown, path: string): void {
  for (const [peer, p] of c.maps(v, path)) {
    const selectors = ["podSelector", "namespaceSelector"].filter((f) => peer[f] !== undefined);
    if (selectors.length === 0 && peer.ipBlock === undefined) {
      c.add(p, "must set podSelector, namespaceSelector or ipBlock");
    }
    if (selectors.length > 0 && peer.ipBlock !== undefined) {
      c.add(
        at(p, "ipBlock"),
        `cannot be combined with ${selectors.join(" or ")} in one peer: make them two peers`,
      );
    }
    checkLabelSelector(c, peer.podSelector, at(p, "podSelector"));
    checkLabelSelector(c, peer.namespaceSelector, at(p, "namespaceSelector"));
    const block = c.map(peer.ipBlock, at(p, "ipBlock"));
    if (block) checkIpBlock(c, block, at(p, "ipBlock"));
  }
}

function checkIpBlock(c: Check, block: Rec, path: string): void {
  const text = c.str(block.cidr, at(path, "cidr"), { required: true, nonEmpty: true });
  const cidr = text === undefined ? undefined : parseCidr(text);
  if (text !== undefined && cidr === undefined) {
    c.add(at(path, "cidr"), `must be a CIDR like 10.0.0.0/8 or fd00::/64, got ${show(text)}`);
  }
  for (const [exceptText, p] of c.strs(block.except, at(path, "except"))) {
    const except = parseCidr(exceptText);
    if (except === undefined) {
      c.add(p, `must be a CIDR like 10.1.0.0/16, got ${show(exceptText)}`);
    } else if (cidr && !(cidrContains(cidr, except) && except.prefix > cidr.prefix)) {
      c.add(p, `${show(exceptText)} must lie strictly inside cidr ${show(text)}`);
    }
  }
}

function checkPorts(c: Check, v: unknown, path: string): void {
  for (const [port, p] of c.maps(v, path)) {
    checkProtocol(c, port, p);
    if (port.port !== undefined) checkNumberOrPortName(c, port.port, at(p, "port"));
    const end = c.int(port.endPort, at(p, "endPort"), { min: 1, max: 65535 });
    if (end === undefined) continue;
    if (port.port === undefined) c.add(at(p, "endPort"), "requires port (the start of the range)");
    else if (typeof port.port === "string")
      c.add(at(p, "endPort"), "cannot be used with a named port: give port as a number");
    else if (typeof port.port === "number" && end < port.port) {
      c.add(at(p, "endPort"), `must be at least port (${port.port}), got ${end}`);
    }
  }
}
