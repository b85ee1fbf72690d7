// Turning server values into text: instants, time left, identifiers and codes.

const instantFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
});
const clockFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

/** Milliseconds since the epoch, or null for anything that is not an instant. */
export function parseInstant(value) {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  return Number.isNaN(ms) ? null : ms;
}

/** "25 Nov 2026, 10:00 UTC" in the reader's locale and zone; an unreadable value as it came. */
export function formatInstant(value) {
  const ms = parseInstant(value);
  return ms === null ? describe(value) : instantFormat.format(ms);
}

/** hh:mm:ss (24 h) for "updated at". */
export function clockTime(date = new Date()) {
  return clockFormat.format(date);
}

function duration(ms) {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d} d ${hr} h ${m} m ${s} s`;
  if (hr) return `${hr} h ${m} m ${s} s`;
  return `${m} m ${s} s`;
}

/** "3 h 2 m 1 s left" or "overdue by 5 m 0 s". */
export function timeLeft(dueMs, nowMs = Date.now()) {
  const ms = dueMs - nowMs;
  return ms >= 0 ? `${duration(ms)} left` : `overdue by ${duration(-ms)}`;
}

/** 'overdue', 'due-soon' or '' (also the row's class). */
export function dueState(dueMs, nowMs, soonHours) {
  if (dueMs === null) return '';
  if (dueMs <= nowMs) return 'overdue';
  if (dueMs - nowMs <= soonHours * 3600 * 1000) return 'due-soon';
  return '';
}

export const DUE_TEXT = { overdue: 'overdue', 'due-soon': 'due soon' };

/** Any server value as plain text: identifiers "value (system)", codes "code display", lists joined. */
export function describe(value) {
  if (value === null || value === undefined || value === '') return '';
  if (Array.isArray(value)) return value.map(describe).filter(Boolean).join(', ');
  if (typeof value === 'object') {
    if ('value' in value) return value.system ? `${describe(value.value)} (${describe(value.system)})` : describe(value.value);
    if ('code' in value) return [value.code, value.display].filter(Boolean).map(String).join(' ');
    if ('start' in value || 'end' in value) return `${describe(value.start) || '…'} to ${describe(value.end) || '…'}`;
    return JSON.stringify(value);
  }
  return String(value);
}

/** A list out of anything (server fields may be absent or the wrong shape). */
export function list(value) {
  return Array.isArray(value) ? value : [];
}
