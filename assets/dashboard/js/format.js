// How values read on screen: labels of the API's enums, times, JSON; and who may do what.

export const STATUS_LABEL = {
  PENDING: 'Pending',
  RUNNING: 'Running',
  FAILED: 'Failed',
  COMPLETED: 'Completed',
  CANCELLED: 'Cancelled',
};

export const BUILDER_LABEL = { PROXMOX_CLONE: 'Proxmox clone', PROXMOX_ISO: 'Proxmox ISO' };

export const OS_LABEL = {
  UBUNTU: 'Ubuntu',
  DEBIAN: 'Debian',
  ROCKY: 'Rocky Linux',
  ALMALINUX: 'AlmaLinux',
  FREEBSD: 'FreeBSD',
};

export const RECIPE_LABEL = {
  UBUNTU_BASE: 'Ubuntu base',
  DEBIAN_BASE: 'Debian base',
  DOCKER_HOST: 'Docker host',
  QEMU_AGENT: 'QEMU guest agent',
};

export const ROLE_LABEL = { VIEWER: 'Viewer', OPERATOR: 'Operator', WORKER: 'Worker', ADMIN: 'Admin' };

/** A label for an enum value, or the value itself when this version does not know it. */
export const label = (labels, value) => labels[value] ?? value;

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

const short = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
});

/** A timestamp in the reader's time zone (`compact`: without year and seconds), or a dash. */
export const when = (value, compact = false) =>
  (value ? (compact ? short : dateTime).format(new Date(value)) : '—');

/** Pretty JSON. */
export const json = (value) => JSON.stringify(value, null, 2);

/** Seconds as `4 h`, `90 s`, … */
export function duration(seconds) {
  if (seconds == null) return '—';
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/**
 * Orders two RFC 3339 timestamps of the API (negative, zero, positive) to the nanosecond:
 * Date keeps milliseconds only, and two transitions of a build can share one.
 */
export function compareStamps(a, b) {
  if (a === b) return 0;
  if (!a) return -1;
  if (!b) return 1;
  const fraction = (s) => Number((/\.(\d+)/.exec(s)?.[1] ?? '').padEnd(9, '0').slice(3, 9));
  return Date.parse(a) - Date.parse(b) || fraction(a) - fraction(b);
}

/** What each role may do (SPEC §4). The service decides; the dashboard hides what it would refuse. */
export const can = {
  queue: (role) => role === 'OPERATOR' || role === 'ADMIN',
  cancel: (role) => role === 'OPERATOR' || role === 'WORKER' || role === 'ADMIN',
  rebuild: (role) => role === 'OPERATOR' || role === 'ADMIN',
  editSettings: (role) => role === 'ADMIN',
};

/** The statuses a build can be cancelled from, and rebuilt from (SPEC §2.1). */
export const cancellable = (status) => status === 'PENDING' || status === 'RUNNING';
export const rebuildable = (status) => status === 'COMPLETED';
export const final = (status) => status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';
