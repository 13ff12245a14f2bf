// The EndpointSlice controller: watches Services, Pods and its own EndpointSlices and keeps
// the store's slices equal to computeEndpointSlices (endpointslice-compute.ts), writing
// only what differs. A thin shell: list-then-watch caches per kind, a per-Service debounce,
// and one worker that syncs one Service at a time.

import { isDeepStrictEqual } from "node:util";
import { matchesLabelMap } from "../../api/labels.js";
import { type Store, StoreError } from "../../api/store.js";
import { type EndpointSlice, type Pod, SERVICE_NAME_LABEL, type Service } from "../../api/types.js";
import { computeEndpointSlices, isManagedSlice } from "./endpointslice-compute.js";
import { type Informer, informer, RETRY_DELAY_MS } from "./informer.js";

export {
  CONTROLLER_NAME,
  computeEndpointSlices,
  isManagedService,
  isManagedSlice,
  MAX_ENDPOINTS_PER_SLICE,
} from "./endpointslice-compute.js";

export interface EndpointSliceControllerOptions {
  /** Stops the controller; the returned promise resolves once it has stopped. */
  readonly signal: AbortSignal;
  /** Failed writes and watches (the controller retries them). */
  readonly onError?: (e: Error) => void;
  /** Quiet time that batches changes to one Service. Default 20 ms. */
  readonly debounceMs?: number;
}

type ByName<T> = Map<string, T>;

/**
 * Runs until `signal` aborts (or the store closes its watches). Resolves then; rejects
 * only when the first list of a kind fails.
 */
export async function runEndpointSliceController(
  store: Store,
  opts: EndpointSliceControllerOptions,
): Promise<void> {
  const { signal } = opts;
  const onError = opts.onError ?? (() => {});
  const services = new Map<string, ByName<Service>>(); // namespace → name → Service
  const pods = new Map<string, ByName<Pod>>(); // namespace → name → Pod
  const slices = new Map<string, ByName<EndpointSlice>>(); // "ns/service" → slice name → slice

  // ---- the queue: debounced per Service, drained by one worker ----
  const timers = new Map<string, NodeJS.Timeout>();
  const queue = new Set<string>();
  let worker: Promise<void> | undefined;
  const enqueue = (key: string, delay = opts.debounceMs ?? 20) => {
    if (signal.aborted || timers.has(key)) return;
    const timer = setTimeout(() => {
      timers.delete(key);
      queue.add(key);
      worker ??= drain().finally(() => {
        worker = undefined;
      });
    }, delay);
    timers.set(key, timer);
  };
  const drain = async () => {
    for (const key of queue) {
      if (signal.aborted) return;
      queue.delete(key);
      await sync(key).catch((err: Error) => {
        onError(err);
        enqueue(key, RETRY_DELAY_MS);
      });
    }
  };
  const enqueueAll = () => {
    for (const [ns, byName] of services) for (const name of byName.keys()) enqueue(`${ns}/${name}`);
    for (const key of slices.keys()) enqueue(key); // slices whose Service is gone
  };

  async function sync(key: string): Promise<void> {
    const [namespace = "", name = ""] = key.split("/");
    const service = services.get(namespace)?.get(name);
    const desired = service
      ? computeEndpointSlices(service, [...(pods.get(namespace)?.values() ?? [])])
      : [];
    const current = slices.get(key) ?? new Map<string, EndpointSlice>();
    for (const slice of desired) {
      const had = current.get(slice.metadata.name);
      if (had && sameSlice(had, slice)) continue;
      rememberSlice(await store.apply(slice));
    }
    const wanted = new Set(desired.map((s) => s.metadata.name));
    for (const sliceName of [...current.keys()]) {
      if (wanted.has(sliceName)) continue;
      await store.delete("EndpointSlice", sliceName, namespace).catch((err) => {
        if (!(err instanceof StoreError && err.code === "NOT_FOUND")) throw err;
      });
      current.delete(sliceName);
    }
  }

  // ---- caches, fed by list-then-watch ----
  const rememberSlice = (slice: EndpointSlice, deleted = false): string | undefined => {
    if (!isManagedSlice(slice)) return undefined;
    const key = `${slice.metadata.namespace}/${slice.metadata.labels?.[SERVICE_NAME_LABEL] ?? ""}`;
    const byName = slices.get(key) ?? new Map<string, EndpointSlice>();
    slices.set(key, byName);
    const had = byName.get(slice.metadata.name);
    // An event older than what this controller has itself written is stale: keep the newer.
    if (had && Number(had.metadata.resourceVersion) > Number(slice.metadata.resourceVersion))
      return key;
    if (deleted) byName.delete(slice.metadata.name);
    else byName.set(slice.metadata.name, slice);
    return key;
  };

  const servicesOfPod = (
    namespace: string,
    ...labelSets: (Record<string, string> | undefined)[]
  ) => {
    for (const svc of services.get(namespace)?.values() ?? []) {
      if (labelSets.some((labels) => matchesLabelMap(svc.spec.selector, labels))) {
        enqueue(`${namespace}/${svc.metadata.name}`);
      }
    }
  };

  const informers: Informer[] = [
    informer(store, "Service", signal, {
      reset: (items) => replaceAll(services, items as Service[]),
      event: ({ type, object }) => {
        const svc = object as Service;
        setIn(
          services,
          svc.metadata.namespace ?? "",
          svc.metadata.name,
          type === "DELETED" ? undefined : svc,
        );
        enqueue(`${svc.metadata.namespace}/${svc.metadata.name}`);
      },
    }),
    informer(store, "Pod", signal, {
      reset: (items) => replaceAll(pods, items as Pod[]),
      event: ({ type, object }) => {
        const pod = object as Pod;
        const ns = pod.metadata.namespace ?? "";
        const before = pods.get(ns)?.get(pod.metadata.name);
        setIn(pods, ns, pod.metadata.name, type === "DELETED" ? undefined : pod);
        servicesOfPod(ns, before?.metadata.labels, pod.metadata.labels);
      },
    }),
    informer(store, "EndpointSlice", signal, {
      reset: (items) => {
        slices.clear();
        for (const s of items as EndpointSlice[]) rememberSlice(s);
      },
      event: ({ type, object }) => {
        const key = rememberSlice(object as EndpointSlice, type === "DELETED");
        if (key) enqueue(key);
      },
    }),
  ];

  const versions: string[] = [];
  for (const inf of informers) versions.push(await inf.list());
  enqueueAll();
  await Promise.all(informers.map((inf, i) => inf.follow(versions[i] ?? "0", enqueueAll, onError)));
  for (const timer of timers.values()) clearTimeout(timer);
  timers.clear();
  await worker;
}

function replaceAll<T extends Service | Pod>(cache: Map<string, ByName<T>>, items: T[]): void {
  cache.clear();
  for (const item of items) setIn(cache, item.metadata.namespace ?? "", item.metadata.name, item);
}

function setIn<T>(
  cache: Map<string, ByName<T>>,
  namespace: string,
  name: string,
  value: T | undefined,
): void {
  const byName = cache.get(namespace) ?? new Map<string, T>();
  cache.set(namespace, byName);
  if (value === undefined) byName.delete(name);
  else byName.set(name, value);
}

/** Whether a stored slice already says what the controller would write. */
function sameSlice(a: EndpointSlice, b: EndpointSlice): boolean {
  return (
    a.addressType === b.addressType &&
    isDeepStrictEqual(a.endpoints, b.endpoints) &&
    isDeepStrictEqual(a.ports ?? [], b.ports ?? []) &&
    isDeepStrictEqual(a.metadata.labels ?? {}, b.metadata.labels ?? {}) &&
    isDeepStrictEqual(a.metadata.ownerReferences ?? [], b.metadata.ownerReferences ?? [])
  );
}
