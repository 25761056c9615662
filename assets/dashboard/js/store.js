// Builds by id, as the newest answer or live event told them: every view reads builds from
// here, so a status change shown in one place is shown everywhere, without asking again.

import { useEffect, useState } from './html.js';
import { compareStamps } from './format.js';

const builds = new Map();
const listeners = new Set();
let scheduled = false;

function changed() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    for (const listener of [...listeners]) listener();
  });
}

/**
 * Records what an answer or an event says of a build and returns what is now known. An older
 * snapshot (by `lastUpdated`) never overwrites a newer one: a query answered before a live event
 * arrived cannot undo it.
 */
export function putBuild(build) {
  if (!build?.id) return build;
  const known = builds.get(build.id);
  let merged = build;
  if (known) {
    merged = compareStamps(build.lastUpdated, known.lastUpdated) >= 0
      ? { ...known, ...build }
      : { ...build, ...known };
  }
  builds.set(build.id, merged);
  changed();
  return merged;
}

/** Records every build of a list; returns their ids in order. */
export function putBuilds(list) {
  return list.map((build) => putBuild(build).id);
}

/** The newest known state of build `id` (or `fallback`). */
export function getBuild(id, fallback = null) {
  return builds.get(id) ?? fallback;
}

/** Forgets everything (sign-out: the next user may see less). */
export function forgetBuilds() {
  builds.clear();
  changed();
}

/** Re-renders the calling component whenever a build changes. */
export function useBuildStore() {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((version) => version + 1);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, []);
}
