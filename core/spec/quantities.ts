// Numbers with units or a trailing `+`: cpus, memory, disk size, idle time.
import type { Quantity } from '../task.js';
import { fail, ok, showValue, type Parsed } from './problems.js';

const NUMBER = String.raw`(\d+(?:\.\d*)?|\.\d+)`;

/** SkyPilot's MEMORY_SIZE_UNITS (binary units), expressed in GB. */
const GB_PER_UNIT: Record<string, number> = {
  kb: 1 / 1024 ** 2, ki: 1 / 1024 ** 2,
  mb: 1 / 1024, mi: 1 / 1024,
  gb: 1, gi: 1,
  tb: 1024, ti: 1024,
  pb: 1024 ** 2, pi: 1024 ** 2,
};
const UNIT = '(kb|ki|mb|mi|gb|gi|tb|ti|pb|pi)';

const CPUS = new RegExp(`^${NUMBER}(\\+?)$`);
const MEMORY = new RegExp(`^${NUMBER}${UNIT}?(\\+?)$`, 'i');
const DISK = new RegExp(`^(\\d+)${UNIT}?$`, 'i');

export function parseCpus(v: unknown): Parsed<Quantity> {
  const expected = "expected a positive number or 'N+' meaning at least N (e.g. 4 or '4+')";
  if (typeof v === 'number') {
    return v > 0 && Number.isFinite(v) ? ok({ value: v, orMore: false }) : fail(`${v} is not positive; ${expected}`);
  }
  if (typeof v === 'string') {
    const m = CPUS.exec(v.replace(/\s+/g, ''));
    if (m) {
      const value = Number(m[1]);
      if (value > 0) return ok({ value, orMore: m[2] === '+' });
      return fail(`${showValue(v)} is not positive; ${expected}`);
    }
  }
  return fail(`${showValue(v)} is not a valid CPU count; ${expected}`);
}

export function parseMemory(v: unknown): Parsed<Quantity> {
  const expected = "expected a positive number of GB, optionally with a unit and '+' meaning at least (e.g. 32, '32+', '64GB+', '1TB')";
  if (typeof v === 'number') {
    return v > 0 && Number.isFinite(v) ? ok({ value: v, orMore: false }) : fail(`${v} is not positive; ${expected}`);
  }
  if (typeof v === 'string') {
    const s = v.replace(/\s+/g, '');
    if (/x$/i.test(s)) {
      return fail(`${showValue(v)} (memory per vCPU) is only used by SkyPilot's own controllers and is not supported; ${expected}`);
    }
    const m = MEMORY.exec(s);
    if (m) {
      const value = Number(m[1]) * GB_PER_UNIT[(m[2] ?? 'gb').toLowerCase()]!;
      if (value > 0) return ok({ value, orMore: m[3] === '+' });
      return fail(`${showValue(v)} is not positive; ${expected}`);
    }
  }
  return fail(`${showValue(v)} is not a valid memory size; ${expected}`);
}

export function parseDiskSize(v: unknown): Parsed<number> {
  const expected = "expected a whole number of GB or a size string (e.g. 256, '100GB', '1TB')";
  if (typeof v === 'number') {
    return Number.isInteger(v) && v > 0 ? ok(v) : fail(`${v} is not a positive whole number; ${expected}`);
  }
  if (typeof v === 'string') {
    const m = DISK.exec(v.replace(/\s+/g, ''));
    if (m) {
      const gb = Number(m[1]) * GB_PER_UNIT[(m[2] ?? 'gb').toLowerCase()]!;
      if (gb > 0 && Number.isInteger(gb)) return ok(gb);
      return fail(`${showValue(v)} is ${gb} GB; ${expected}`);
    }
  }
  return fail(`${showValue(v)} is not a valid disk size; ${expected}`);
}

const MINUTES_PER_UNIT: Record<string, number> = { m: 1, h: 60, d: 24 * 60, w: 7 * 24 * 60 };
const DURATION = /^(\d+)([mhdw])?$/i;

/** SkyPilot's TIME_PATTERN: whole minutes, or a number with m/h/d/w. */
export function parseIdleMinutes(v: unknown): Parsed<number> {
  const expected = "expected whole minutes or a duration such as '10m', '2h', '1d', '1w'";
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? ok(v) : fail(`${v} is not a whole number ≥ 0; ${expected}`);
  if (typeof v === 'string') {
    const m = DURATION.exec(v.trim());
    if (m) return ok(Number(m[1]) * MINUTES_PER_UNIT[(m[2] ?? 'm').toLowerCase()]!);
  }
  return fail(`${showValue(v)} is not a valid idle time; ${expected}`);
}
