// A google.protobuf.Duration as decoded ({seconds: "5", nanos: 0}) in milliseconds.

export function durationMs(d: unknown): number | undefined {
  if (!d || typeof d !== "object") return undefined;
  const { seconds = 0, nanos = 0 } = d as { seconds?: string | number; nanos?: number };
  return Number(seconds) * 1000 + Math.round(Number(nanos) / 1e6);
}
