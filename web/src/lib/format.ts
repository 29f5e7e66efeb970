/** Display helpers: bytes, numbers, times and durations, all tolerant of missing values. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes)) return '—';
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit] ?? 'B'}`;
}

export function formatNumber(value: number | null | undefined, digits = 2): string {
  if (value == null || !Number.isFinite(value)) return '—';
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return value.toLocaleString('en-US');
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Scores and metrics: four significant decimals are what a person compares. */
export function formatScore(value: number | null | undefined): string {
  if (value == null || !Number.isFinite(value)) return '—';
  return value.toFixed(4);
}

export function formatMs(value: number | null | undefined): string {
  if (value == null || !Number.isFinite(value)) return '—';
  return value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`;
}

export function formatPercent(part: number, total: number): string {
  if (!total || !Number.isFinite(part) || !Number.isFinite(total)) return '—';
  return `${Math.round((part / total) * 100)}%`;
}

/** Epoch seconds → local date and time. */
export function formatTime(epochSeconds: number | null | undefined): string {
  if (epochSeconds == null || !Number.isFinite(epochSeconds)) return '—';
  return new Date(epochSeconds * 1000).toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** Epoch seconds → local time of day (hours, minutes, seconds). */
export function formatClock(epochSeconds: number | null | undefined): string {
  if (epochSeconds == null || !Number.isFinite(epochSeconds)) return '—';
  return new Date(epochSeconds * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/**
 * Epoch seconds relative to `nowSeconds`: "in 45 s", "in 3 h 20 min", "2 d 4 h ago". Coarser
 * than formatDuration (no seconds past a minute) so a clock ticking every few seconds reads calmly.
 */
export function formatRelative(epochSeconds: number | null | undefined, nowSeconds: number): string {
  if (epochSeconds == null || !Number.isFinite(epochSeconds)) return '—';
  const diff = epochSeconds - nowSeconds;
  const abs = Math.abs(diff);
  if (abs < 1) return 'now';
  let text: string;
  if (abs < 60) text = `${Math.floor(abs)} s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)} min`;
  else if (abs < 86_400) {
    const hours = Math.floor(abs / 3600);
    const minutes = Math.floor((abs % 3600) / 60);
    text = minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  } else {
    const days = Math.floor(abs / 86_400);
    const hours = Math.floor((abs % 86_400) / 3600);
    text = hours ? `${days} d ${hours} h` : `${days} d`;
  }
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 1) return `${(seconds * 1000).toFixed(0)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds % 60);
  if (minutes < 60) return `${minutes} min ${rest} s`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

/** Duration of a job: until its end, or until now while it runs. */
export function jobDuration(start: number | null, end: number | null, nowSeconds = Date.now() / 1000): string {
  if (start == null) return '—';
  return formatDuration((end ?? nowSeconds) - start);
}

export function formatValue(value: unknown): string {
  if (value == null) return '—';
  if (typeof value === 'number') return formatNumber(value, 4);
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return JSON.stringify(value);
}
