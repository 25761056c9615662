// Cancel and rebuild, shown only to roles that may do them and only in statuses that allow them.

import { html, useState } from '../html.js';
import { graphql } from '../api.js';
import { CANCEL_BUILD, REBUILD } from '../queries.js';
import { can, cancellable, rebuildable } from '../format.js';
import { putBuild } from '../store.js';
import { link, navigate } from '../router.js';
import { ErrorAlert, useSession } from '../components.js';

/** Whether `role` may act on some build at all (decides whether a list has an actions column). */
export const acts = (role) => can.cancel(role) || can.rebuild(role);

export function BuildActions({ build }) {
  const { me, announce } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const showCancel = can.cancel(me.role) && cancellable(build.status);
  const showRebuild = can.rebuild(me.role) && rebuildable(build.status);
  if (!showCancel && !showRebuild && !error) return null;

  const run = async (document, field, after) => {
    setBusy(true);
    setError(null);
    try {
      const data = await graphql(document, { id: build.id });
      after(putBuild(data[field]));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const cancel = () => {
    if (!confirm(`Cancel build ${build.outputName}?`)) return;
    run(CANCEL_BUILD, 'cancelImageBuild', (cancelled) =>
      announce(`Build ${cancelled.outputName} cancelled.`));
  };
  const rebuild = () =>
    run(REBUILD, 'rebuildImage', (queued) => {
      announce(`Rebuild queued as ${queued.outputName}.`);
      navigate(link(['builds', queued.id]));
    });

  return html`<div class="actions">
    ${showCancel && html`<button type="button" class="button button-danger" disabled=${busy}
      onClick=${cancel}>Cancel<span class="visually-hidden"> build ${build.outputName}</span></button>`}
    ${showRebuild && html`<button type="button" class="button" disabled=${busy}
      onClick=${rebuild}>Rebuild<span class="visually-hidden"> ${build.outputName}</span></button>`}
    <${ErrorAlert} error=${error} title="The service refused" />
  </div>`;
}
