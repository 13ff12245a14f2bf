// The mTLS mode a pod's inbound listener enforces, composed from PeerAuthentications the way
// Istio's ComposePeerAuthentication does: the narrowest scope that sets a mode wins —
// workload (a selector with labels, in the pod's namespace) > namespace (no selector) >
// mesh (no selector, in the root namespace) > PERMISSIVE — the oldest policy winning within
// a scope; UNSET inherits from the wider scope. portLevelMtls is read from the workload
// policy only (as Istio), its UNSET entries inheriting the workload's mode.

import type { MtlsMode, PeerAuthentication } from "../../api/types.js";
import { compareAge } from "./model.js";
import { ROOT_NAMESPACE } from "./names.js";

export type EffectiveMode = Exclude<MtlsMode, "UNSET">;

export interface EffectiveMtls {
  readonly mode: EffectiveMode;
  /** Overrides by (container) port number. */
  readonly perPort: ReadonlyMap<number, EffectiveMode>;
}

function hasLabels(pa: PeerAuthentication): boolean {
  return Object.keys(pa.spec.selector?.matchLabels ?? {}).length > 0;
}

function selects(pa: PeerAuthentication, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(pa.spec.selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

function oldest(list: readonly PeerAuthentication[]): PeerAuthentication | undefined {
  return [...list].sort(compareAge)[0];
}

const set = (mode: MtlsMode | undefined): EffectiveMode | undefined =>
  mode === undefined || mode === "UNSET" ? undefined : mode;

export function effectiveMtls(
  byNamespace: ReadonlyMap<string, readonly PeerAuthentication[]>,
  namespace: string | undefined,
  labels: Readonly<Record<string, string>>,
): EffectiveMtls {
  const root = byNamespace.get(ROOT_NAMESPACE) ?? [];
  const local = namespace === undefined ? [] : (byNamespace.get(namespace) ?? []);
  const mesh = oldest(root.filter((pa) => !hasLabels(pa)));
  const ns =
    namespace === ROOT_NAMESPACE ? undefined : oldest(local.filter((pa) => !hasLabels(pa)));
  const workload =
    namespace === ROOT_NAMESPACE
      ? undefined
      : oldest(local.filter((pa) => hasLabels(pa) && selects(pa, labels)));

  let mode: EffectiveMode = "PERMISSIVE";
  for (const pa of [mesh, ns, workload]) mode = set(pa?.spec.mtls?.mode) ?? mode;
  const perPort = new Map<number, EffectiveMode>();
  for (const [port, entry] of Object.entries(workload?.spec.portLevelMtls ?? {})) {
    const n = Number(port);
    if (Number.isInteger(n)) perPort.set(n, set(entry.mode) ?? mode);
  }
  return { mode, perPort };
}

export function modeForPort(mtls: EffectiveMtls, port: number): EffectiveMode {
  return mtls.perPort.get(port) ?? mtls.mode;
}
