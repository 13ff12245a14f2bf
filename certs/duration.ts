// Durations as people write them on command lines: 90s, 15m, 24h, 7d, 1h30m.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds, or undefined when `text` is not a duration. */
export function parseDuration(text: string): number | undefined {
  const parts = text.trim().match(/^(?:\d+(?:ms|s|m|h|d))+$/)
    ? text.trim().match(/\d+(?:ms|s|m|h|d)/g)
    : null;
  if (!parts) return undefined;
  let total = 0;
  for (const part of parts) {
    const [, n, unit] = part.match(/^(\d+)(ms|s|m|h|d)$/) as RegExpMatchArray;
    total += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return total;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const out: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (rest >= size) {
      out.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return out.join("");
}
