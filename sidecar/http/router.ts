// The L7 pipeline of one HTTP connection manager, assembled in one place: authorization
// (the HCM's RBAC filter, inbound) → the logical stage (route-match: virtual host, route,
// weighted cluster, hash policy) → retries and timeouts (retry.ts) → the cluster's circuit
// breaker (max_requests) → the concrete stage (the cluster's endpoint, ClusterPicker, by
// the request's hash key for ring hash) → the endpoint stage (UpstreamPools, which hold
// max_connections and max_pending_requests). Errors bubble up as ProxyErrors untouched
// and downstream.ts turns them into a status.

import type { XdsMessage } from "../../api/xds-proto.js";
import { type AuthzFacts, evaluateRbac } from "../authz/rbac.js";
import { type CircuitBreakers, howMany } from "../proxy/circuit-breakers.js";
import { ClusterError, type ClusterPicker } from "../proxy/clusters.js";
import { hashKey } from "../proxy/hash-policy.js";
import type { Mutable } from "../shapes.js";
import type { XdsConfig } from "../xds/assemble.js";
import { type Dispatch, ProxyError } from "./contract.js";
import type { HttpHandler } from "./downstream.js";
import { type RetryBudget, withRetries } from "./retry.js";
import { routeRequest } from "./route-match.js";
import { nextHop } from "./trace-context.js";
import type { UpstreamPools } from "./upstream-pool.js";

const RBAC_FILTER = "envoy.filters.http.rbac";

export interface ConnectionManager {
  /** The route configuration in force for each request (RDS by name, or inline). */
  readonly routes: () => XdsMessage | undefined;
  /** The HCM's http_filters (RBAC rules are read from them). */
  readonly httpFilters: readonly XdsMessage[];
  /** The peer's SPIFFE ID (inbound, over mTLS) and the destination port, for RBAC. */
  readonly principal?: string;
  readonly destinationPort: number;
  /** The connection's original destination (ORIGINAL_DST clusters). */
  readonly destination: { readonly address: string; readonly port: number };
  /** The downstream peer's address (hash policies on the source IP). */
  readonly sourceAddress?: string;
}

export interface RouterDeps {
  readonly config: () => XdsConfig;
  readonly picker: ClusterPicker;
  readonly pools: Pick<UpstreamPools, "dispatch">;
  readonly budget: RetryBudget;
  readonly breakers: CircuitBreakers;
}

export function connectionManagerHandler(deps: RouterDeps, hcm: ConnectionManager): HttpHandler {
  const rbacRules = hcm.httpFilters
    .filter((f) => f.name === RBAC_FILTER)
    .map((f) => (f.typed_config as XdsMessage | undefined)?.rules as XdsMessage | undefined);
  return async (incoming, signal) => {
    // This hop's span: the trace context goes on with a new span id (trace-context.ts).
    const { headers: forwarded, hop } = nextHop(incoming.headers);
    const request = Object.assign({}, incoming, { headers: forwarded });
    if (request.record) {
      request.record.traceId = hop.traceId;
      request.record.spanId = hop.spanId;
      if (hop.parentSpanId) request.record.parentSpanId = hop.parentSpanId;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(request.headers))
      headers[k] = Array.isArray(v) ? v.join(",") : v;
    const facts: Mutable<AuthzFacts> = {
      destinationPort: hcm.destinationPort,
      method: request.method,
      path: request.path,
      headers,
    };
    if (hcm.principal) facts.principal = hcm.principal;
    for (const rules of rbacRules) {
      const verdict = evaluateRbac(rules, facts);
      if (!verdict.allowed) {
        throw new ProxyError(
          "RBAC_DENIED",
          `${hcm.principal ?? "a plaintext peer"}: ${request.method} ${request.path} denied${verdict.policy ? ` by ${verdict.policy}` : ""}`,
        );
      }
    }
    const routes = hcm.routes();
    if (!routes) throw new ProxyError("NO_ROUTE", "no route configuration yet");
    const result = routeRequest(routes, {
      method: request.method,
      path: request.path,
      authority: request.authority,
      headers,
    });
    if (!result.ok) throw new ProxyError(result.code, result.message, result.status);
    const { decision } = result;
    // Every attempt hashes the same key, so a retry goes to the same endpoint (as Envoy's
    // does without a retry host predicate).
    const key = decision.hashPolicies
      ? hashKey(decision.hashPolicies, { headers, sourceAddress: hcm.sourceAddress })
      : undefined;
    const context = key === undefined ? undefined : { hashKey: key };
    const attempt: Dispatch = async (req, attemptSignal) => {
      const config = deps.config();
      const slot = deps.breakers.admit(
        decision.cluster,
        config.clusters.get(decision.cluster)?.message,
      );
      if (!slot) {
        throw new ProxyError(
          "OVERFLOW",
          `cluster ${decision.cluster} has ${howMany(deps.breakers.active(decision.cluster), "request")} in flight, its max_requests`,
        );
      }
      let target: ReturnType<ClusterPicker["pick"]>;
      try {
        // No key (no hash policy, or no value for it): ring hash picks a random point.
        target = deps.picker.pick(config, decision.cluster, hcm.destination, context);
      } catch (err) {
        slot();
        if (err instanceof ClusterError) throw new ProxyError(err.code, err.message);
        throw err;
      }
      const release = () => {
        target.release();
        slot();
      };
      if (req.record) {
        req.record.cluster = decision.cluster;
        req.record.endpoint = `${target.address}:${target.port}`;
      }
      try {
        const res = await deps.pools.dispatch(target, req, attemptSignal);
        target.report(res.status >= 500 ? "error" : "success");
        // In flight until the response body is done (least request counts streams).
        res.body.once("close", release);
        res.body.once("end", release);
        return res;
      } catch (err) {
        // The upstream failed (connect, TLS, reset), not the caller's deadline.
        if (!attemptSignal.aborted) target.report("error");
        release();
        throw err;
      }
    };
    if (request.record) request.record.route = decision.route;
    const stats = { attempts: 0 };
    try {
      return await withRetries(attempt, request, signal, decision, deps.budget, stats);
    } finally {
      if (request.record) request.record.attempts = stats.attempts;
    }
  };
}
