// One build: every field, its event timeline (growing live), its actions, the Packer template
// it runs and its live log.

import { html, useEffect, useState } from '../html.js';
import { ApiError, graphql } from '../api.js';
import { BUILD, BUILD_TEMPLATE } from '../queries.js';
import { STATUS_LABEL, duration, label } from '../format.js';
import { getBuild, putBuild, useBuildStore } from '../store.js';
import { link } from '../router.js';
import {
  Badge, Details, ErrorAlert, Json, Loading, PageHeading, Section, Time, useLiveEvents,
} from '../components.js';
import { BuildActions } from './actions.js';
import { LogPanel, TemplatePanel } from './panels.js';

/** A live `buildStatusChanged` event as a timeline entry (the shape of `ImageBuild.events`). */
const asEntry = (event) => ({
  id: event.eventId,
  fromStatus: event.previousStatus,
  toStatus: event.status,
  message: event.message ?? '',
  at: event.at,
  actor: event.actor,
});

export function BuildPage({ id }) {
  useBuildStore();
  const [events, setEvents] = useState(null);
  const [error, setError] = useState(null);
  // Events that arrive while the first answer is on its way are merged into it.
  const [early] = useState([]);

  useEffect(() => {
    let current = true;
    graphql(BUILD, { id })
      .then((data) => {
        if (!current) return;
        const { events: history, ...build } = data.imageBuild;
        putBuild(build);
        const known = new Set(history.map((event) => event.id));
        setEvents([...history, ...early.filter((entry) => !known.has(entry.id))]);
      })
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [id]);

  useLiveEvents((event) => {
    if (event.build.id !== id) return;
    const entry = asEntry(event);
    if (!events) {
      early.push(entry);
      return;
    }
    setEvents((shown) => (shown.some((e) => e.id === entry.id) ? shown : [...shown, entry]));
  });

  if (error) {
    const missing = error instanceof ApiError && error.code === 'NOT_FOUND';
    return html`<${PageHeading} title=${missing ? 'Build not found' : 'Build'} />
      ${missing
        ? html`<p>No build with this id is visible to you. <a href=${link(['builds'])}>All builds</a></p>`
        : html`<${ErrorAlert} error=${error} title="The build could not be loaded" />`}`;
  }
  const build = getBuild(id);
  if (!events || !build) return html`<${PageHeading} title="Build" /><${Loading} what="Loading the build" />`;

  return html`
    <${PageHeading} title=${`Build ${build.outputName}`}>
      <p class="subtitle">
        <${Badge} build=${build} />
        ${' '}of <a href=${link(['definitions', build.definition.id])}>${build.definition.name}</a>
      </p>
    <//>
    <${BuildActions} build=${build} />
    <${Section} id="build-fields" title="Build">
      <${Details} rows=${[
        ['Id', html`<code>${build.id}</code>`],
        ['Status', label(STATUS_LABEL, build.status)],
        ['Definition', html`<a href=${link(['definitions', build.definition.id])}>${build.definition.name}</a>`],
        ['Output VMID', build.outputVmid],
        ['Output name', build.outputName],
        ['Image version', build.imageVersion],
        ['Proxmox endpoint', build.proxmoxEndpoint?.name],
        ['Target node', build.targetNode],
        ['Queued', html`<${Time} value=${build.created} />`],
        ['Queued by', build.createdBy?.username],
        ['Started', html`<${Time} value=${build.startedAt} />`],
        ['Ended', html`<${Time} value=${build.completedAt} />`],
        ['Timeout', duration(build.timeoutSeconds)],
        ['Backend build id', build.backendBuildId || null],
        ['NetBox job id', build.netboxJobId],
        ['Catalog entry', build.cloudImageTemplate
          ? html`${build.cloudImageTemplate.name} (<code>${build.cloudImageTemplate.slug}</code>)` : null],
        ['Rebuild of', build.rebuildOf
          ? html`<a href=${link(['builds', build.rebuildOf.id])}>${build.rebuildOf.outputName}</a>` : null],
        ['Last updated', html`<${Time} value=${build.lastUpdated} />`],
      ]} />
      ${build.error && html`<h3>Error</h3><pre class="code error-text" tabindex="0" aria-label="Error">${build.error}</pre>`}
      <h3>Variables</h3>
      <${Json} value=${build.variables} label="Variables of this build" />
      <h3>Backend response</h3>
      <${Json} value=${build.backendResponse} label="Backend response" />
    <//>
    <${Section} id="timeline" title="Timeline">
      <ol class="timeline" aria-label="Status changes, oldest first">
        ${events.map((event) => html`<li key=${event.id} data-event=${event.id}>
          <p class="timeline-what">
            ${event.fromStatus ? `${label(STATUS_LABEL, event.fromStatus)} → ` : 'Queued as '}
            <strong>${label(STATUS_LABEL, event.toStatus)}</strong>
          </p>
          <p class="timeline-meta"><${Time} value=${event.at} /> · ${event.actor?.username ?? 'the service'}</p>
          ${event.message && html`<p class="timeline-message">${event.message}</p>`}
        </li>`)}
      </ol>
    <//>
    <${LogPanel} build=${build} />
    <${TemplatePanel} document=${BUILD_TEMPLATE} id=${build.id} field="imageBuild" />
  `;
}
