// Validation and defaults for the core kinds — Pod, Service, EndpointSlice, Deployment —
// with the rules the Kubernetes API server applies. Each validator walks an object whose
// metadata is already checked, reports every problem with its path, and fills defaults.

import { ipFamily } from "./ip.js";
import { matchesSelector } from "./labels.js";
import type { LabelSelector } from "./types.js";
import {
  at,
  type Check,
  checkLabelMap,
  checkLabelSelector,
  checkName,
  checkNumberOrPortName,
  checkPortNumber,
  checkProtocol,
  dnsLabelError,
  dnsSubdomainError,
  portNameError,
  type Rec,
  show,
  withDefault,
} from "./validate-common.js";

export function checkPodSpec(c: Check, v: unknown, path: string): void {
  const spec = c.map(v, path, { required: true });
  if (!spec) return;
  const containerNames = new Map<string, string>();
  const portNames = new Map<string, string>();
  const containers = c.maps(spec.containers, at(path, "containers"), { required: true, min: 1 });
  for (const [ct, p] of containers) {
    const name = checkName(c, ct.name, at(p, "name"), "label", { required: true });
    if (name !== undefined) {
      const first = containerNames.get(name);
      if (first) c.add(at(p, "name"), `duplicate container name ${show(name)} (also at ${first})`);
      else containerNames.set(name, at(p, "name"));
    }
    c.str(ct.image, at(p, "image"), { required: true, nonEmpty: true });
    c.strs(ct.command, at(p, "command"));
    c.strs(ct.args, at(p, "args"));
    for (const [env, ep] of c.maps(ct.env, at(p, "env"))) {
      c.str(env.name, at(ep, "name"), { required: true, nonEmpty: true });
      c.str(env.value, at(ep, "value"));
    }
    for (const [port, pp] of c.maps(ct.ports, at(p, "ports"))) {
      checkPortNumber(c, port.containerPort, at(pp, "containerPort"), { required: true });
      checkProtocol(c, port, pp);
      const portName = c.str(port.name, at(pp, "name"));
      if (portName === undefined) continue;
      const err = portNameError(portName);
      const first = portNames.get(portName);
      if (err) c.add(at(pp, "name"), err);
      else if (first)
        c.add(
          at(pp, "name"),
          `duplicate port name ${show(portName)} in the pod (also at ${first}): port names must be unique across containers`,
        );
      else portNames.set(portName, at(pp, "name"));
    }
    for (const probe of ["readinessProbe", "livenessProbe"]) checkProbe(c, ct[probe], at(p, probe));
  }
  c.oneOf(spec.restartPolicy, ["Always", "OnFailure", "Never"], at(path, "restartPolicy"));
  checkName(c, spec.serviceAccountName, at(path, "serviceAccountName"), "subdomain");
  checkName(c, spec.nodeName, at(path, "nodeName"), "subdomain");
}

function checkProbe(c: Check, v: unknown, path: string): void {
  const probe = c.map(v, path);
  if (!probe) return;
  const http = c.map(probe.httpGet, at(path, "httpGet"));
  if (http) {
    if (http.port === undefined) c.add(at(path, "httpGet.port"), "is required");
    else checkNumberOrPortName(c, http.port, at(path, "httpGet.port"));
    c.oneOf(http.scheme, ["HTTP", "HTTPS"], at(path, "httpGet.scheme"));
  }
  const tcp = c.map(probe.tcpSocket, at(path, "tcpSocket"));
  if (tcp) {
    if (tcp.port === undefined) c.add(at(path, "tcpSocket.port"), "is required");
    else checkNumberOrPortName(c, tcp.port, at(path, "tcpSocket.port"));
  }
  const exec = c.map(probe.exec, at(path, "exec"));
  if (exec) c.strs(exec.command, at(path, "exec.command"), { required: true });
  for (const field of [
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
  ]) {
    c.int(probe[field], at(path, field), { min: 0 });
  }
}

function checkIp(c: Check, v: unknown, path: string): void {
  const s = c.str(v, path);
  if (s !== undefined && ipFamily(s) === undefined)
    c.add(path, `must be an IP address, got ${show(s)}`);
}

export function checkPod(c: Check, obj: Rec): void {
  checkPodSpec(c, obj.spec, "spec");
  const status = c.map(obj.status, "status");
  if (!status) return;
  c.oneOf(status.phase, ["Pending", "Running", "Succeeded", "Failed", "Unknown"], "status.phase");
  checkIp(c, status.podIP, "status.podIP");
  checkIp(c, status.hostIP, "status.hostIP");
  const podIPs = c.maps(status.podIPs, "status.podIPs", { max: 2 });
  for (const [entry, p] of podIPs) checkIp(c, entry.ip, at(p, "ip"));
  if (typeof status.podIP === "string" && podIPs[0] && podIPs[0][0].ip !== status.podIP) {
    c.add("status.podIPs[0].ip", `must equal status.podIP (${show(status.podIP)})`);
  }
  for (const [cond, p] of c.maps(status.conditions, "status.conditions")) {
    c.str(cond.type, at(p, "type"), { required: true, nonEmpty: true });
    c.oneOf(cond.status, ["True", "False", "Unknown"], at(p, "status"), { required: true });
  }
}

const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] as const;

function checkClusterIp(c: Check, v: unknown, path: string): string | undefined {
  const s = c.str(v, path);
  if (s !== undefined && s !== "" && s !== "None" && ipFamily(s) === undefined) {
    c.add(
      path,
      `must be an IP address, "None" for a headless Service, or empty to have one allocated; got ${show(s)}`,
    );
  }
  return s;
}

export function checkService(c: Check, obj: Rec): void {
  const spec = c.map(obj.spec, "spec", { required: true });
  if (!spec) return;
  withDefault(spec, "type", "ClusterIP");
  const type = c.oneOf(spec.type, SERVICE_TYPES, "spec.type");
  const clusterIP = checkClusterIp(c, spec.clusterIP, "spec.clusterIP");
  const clusterIPs = c.list(spec.clusterIPs, "spec.clusterIPs", { max: 2 }) ?? [];
  for (const [i, ip] of clusterIPs.entries()) checkClusterIp(c, ip, at("spec.clusterIPs", i));
  if (clusterIP && clusterIPs.length > 0 && clusterIPs[0] !== clusterIP) {
    c.add("spec.clusterIPs[0]", `must equal spec.clusterIP (${show(clusterIP)})`);
  }
  checkLabelMap(c, spec.selector, "spec.selector");
  c.oneOf(spec.sessionAffinity, ["None", "ClientIP"], "spec.sessionAffinity");

  const ports = c.maps(spec.ports, "spec.ports");
  const noPorts =
    spec.ports === undefined || (Array.isArray(spec.ports) && spec.ports.length === 0);
  if (noPorts && type !== "ExternalName" && clusterIP !== "None") {
    c.add(
      "spec.ports",
      "is required: list at least one port (only headless and ExternalName Services may have none)",
    );
  }
  const names = new Map<string, string>();
  const numbers = new Map<string, string>();
  for (const [port, p] of ports) {
    const number = checkPortNumber(c, port.port, at(p, "port"), { required: true });
    checkProtocol(c, port, p);
    if (number !== undefined) withDefault(port, "targetPort", number);
    if (port.targetPort !== undefined)
      checkNumberOrPortName(c, port.targetPort, at(p, "targetPort"));
    checkPortNumber(c, port.nodePort, at(p, "nodePort"));
    c.str(port.appProtocol, at(p, "appProtocol"), { nonEmpty: true });
    if (port.name === undefined || port.name === "") {
      if (ports.length > 1)
        c.add(
          at(p, "name"),
          "is required when a Service has more than one port: name each port (like http, grpc)",
        );
    } else {
      const name = checkName(c, port.name, at(p, "name"), "label");
      const first = name === undefined ? undefined : names.get(name);
      if (first) c.add(at(p, "name"), `duplicate port name ${show(name)} (also at ${first})`);
      else if (name !== undefined) names.set(name, at(p, "name"));
    }
    const id = `${String(number)}/${String(port.protocol)}`;
    const firstNumber = numbers.get(id);
    if (number !== undefined && firstNumber)
      c.add(at(p, "port"), `duplicate port ${id} (also at ${firstNumber})`);
    else numbers.set(id, at(p, "port"));
  }
}

export function checkEndpointSlice(c: Check, obj: Rec): void {
  const type = c.oneOf(obj.addressType, ["IPv4", "IPv6", "FQDN"], "addressType", {
    required: true,
  });
  withDefault(obj, "endpoints", []);
  for (const [ep, p] of c.maps(obj.endpoints, "endpoints", { max: 1000 })) {
    const addresses = c.list(ep.addresses, at(p, "addresses"), {
      required: true,
      min: 1,
      max: 100,
    });
    for (const [i, item] of (addresses ?? []).entries()) {
      const ap = at(at(p, "addresses"), i);
      const addr = c.str(item, ap, { required: true });
      if (addr === undefined) continue;
      if (type === "FQDN") {
        const err = dnsSubdomainError(addr);
        if (err) c.add(ap, err);
      } else if (type !== undefined && ipFamily(addr) !== type) {
        c.add(ap, `must be an ${type} address (the slice's addressType), got ${show(addr)}`);
      }
    }
    const cond = c.map(ep.conditions, at(p, "conditions"));
    if (cond)
      for (const f of ["ready", "serving", "terminating"])
        c.bool(cond[f], at(p, `conditions.${f}`));
    checkName(c, ep.nodeName, at(p, "nodeName"), "subdomain");
    checkName(c, ep.hostname, at(p, "hostname"), "label");
    c.str(ep.zone, at(p, "zone"));
    const ref = c.map(ep.targetRef, at(p, "targetRef"));
    if (ref) {
      c.str(ref.kind, at(p, "targetRef.kind"), { nonEmpty: true });
      c.str(ref.name, at(p, "targetRef.name"), { required: true, nonEmpty: true });
      c.str(ref.namespace, at(p, "targetRef.namespace"));
    }
  }
  const names = new Set<string>();
  for (const [port, p] of c.maps(obj.ports, "ports", { max: 100 })) {
    const name = c.str(port.name, at(p, "name"));
    if (name !== undefined && name !== "") {
      const err = dnsLabelError(name);
      if (err) c.add(at(p, "name"), err);
    }
    if (names.has(name ?? "")) c.add(at(p, "name"), `duplicate port name ${show(name ?? "")}`);
    names.add(name ?? "");
    checkProtocol(c, port, p);
    checkPortNumber(c, port.port, at(p, "port"));
    c.str(port.appProtocol, at(p, "appProtocol"), { nonEmpty: true });
  }
}

export function checkDeployment(c: Check, obj: Rec): void {
  const spec = c.map(obj.spec, "spec", { required: true });
  if (!spec) return;
  withDefault(spec, "replicas", 1);
  c.int(spec.replicas, "spec.replicas", { min: 0 });
  const before = c.issues.length;
  const selector = checkLabelSelector(c, spec.selector, "spec.selector", { required: true });
  const selectorOk = selector !== undefined && c.issues.length === before;
  const empty =
    selector !== undefined &&
    Object.keys((selector.matchLabels as Rec | undefined) ?? {}).length === 0 &&
    ((selector.matchExpressions as unknown[] | undefined) ?? []).length === 0;
  if (empty)
    c.add("spec.selector", "must not be empty: say which pod labels belong to this Deployment");
  const template = c.map(spec.template, "spec.template", { required: true });
  if (!template) return;
  const meta = c.map(template.metadata, "spec.template.metadata");
  const labelsBefore = c.issues.length;
  checkLabelMap(c, meta?.labels, "spec.template.metadata.labels");
  const labels = meta?.labels as Record<string, string> | undefined;
  if (selectorOk && !empty && c.issues.length === labelsBefore) {
    if (!matchesSelector(selector as LabelSelector, labels ?? {})) {
      c.add(
        "spec.template.metadata.labels",
        "must match spec.selector, or the Deployment would not own its own pods",
      );
    }
  }
  checkPodSpec(c, template.spec, "spec.template.spec");
}
