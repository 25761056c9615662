// One definition: every field, allowed tenants, the Packer template, its newest builds (live),
// and the queue form for roles that may queue.

import { html, useEffect, useRef, useState } from '../html.js';
import { ApiError, graphql, idempotencyKey } from '../api.js';
import { DEFINITION, DEFINITION_TEMPLATE, QUEUE_BUILD } from '../queries.js';
import {
  BUILDER_LABEL, OS_LABEL, RECIPE_LABEL, can, json, label,
} from '../format.js';
import { putBuild, putBuilds, useBuildStore } from '../store.js';
import { link } from '../router.js';
import {
  Details, ErrorAlert, Field, Json, Loading, Notice, PageHeading, Section, Time,
  focusFirstInvalid, otherFieldErrors, useLiveEvents, useSession,
} from '../components.js';
import { BuildTable } from './builds.js';
import { acts } from './actions.js';
import { TemplatePanel } from './panels.js';

const SHOWN_BUILDS = 10;

export function Definition({ id }) {
  const { me } = useSession();
  useBuildStore();
  const [definition, setDefinition] = useState(null);
  const [builds, setBuilds] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let current = true;
    graphql(DEFINITION, { id })
      .then((data) => {
        if (!current) return;
        setDefinition(data.imageDefinition);
        setBuilds({
          ids: putBuilds(data.imageDefinition.builds.nodes),
          totalCount: data.imageDefinition.builds.totalCount,
        });
      })
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [id]);

  const addBuild = (build) => setBuilds((shown) => (!shown || shown.ids.includes(build.id)
    ? shown
    : { ids: [build.id, ...shown.ids].slice(0, SHOWN_BUILDS), totalCount: shown.totalCount + 1 }));

  useLiveEvents((event) => {
    if (event.previousStatus === null && event.build.definition.id === id) addBuild(event.build);
  });

  if (error) {
    const missing = error instanceof ApiError && error.code === 'NOT_FOUND';
    return html`<${PageHeading} title=${missing ? 'Definition not found' : 'Definition'} />
      ${missing
        ? html`<p>No definition with this id is visible to you. <a href=${link(['definitions'])}>All definitions</a></p>`
        : html`<${ErrorAlert} error=${error} title="The definition could not be loaded" />`}`;
  }
  if (!definition) return html`<${PageHeading} title="Definition" /><${Loading} what="Loading the definition" />`;

  const d = definition;
  return html`
    <${PageHeading} title=${d.name}>
      <p class="subtitle">
        <span class=${d.enabled ? 'pill pill-on' : 'pill pill-off'}>${d.enabled ? 'Enabled' : 'Disabled'}</span>
        ${' '}${label(BUILDER_LABEL, d.builderType)} · ${label(OS_LABEL, d.osFamily)} ${d.osRelease}
      </p>
    <//>
    <${Section} id="definition-fields" title="Definition">
      <${Details} rows=${[
        ['Slug', html`<code>${d.slug}</code>`],
        ['Description', d.description || '—'],
        ['Builder', label(BUILDER_LABEL, d.builderType)],
        ['Proxmox endpoint', d.proxmoxEndpoint.name],
        ['Target node', d.targetNode],
        ['Target cluster', d.targetCluster?.name],
        ['Source template VMID', d.sourceTemplateVmid],
        ['ISO URL', d.isoUrl],
        ['ISO checksum', d.isoChecksum ? html`<code class="wrap">${d.isoChecksum}</code>` : null],
        ['ISO storage', d.isoStorage || null],
        ['Default storage', d.defaultStorage],
        ['Default bridge', d.defaultBridge],
        ['OS family', label(OS_LABEL, d.osFamily)],
        ['OS release', d.osRelease],
        ['Default cloud-init user', d.defaultCiuser],
        ['Provisioner recipe', label(RECIPE_LABEL, d.provisionerRecipe)],
        ['Allowed tenants', d.allowedTenants.length
          ? html`<ul class="inline-list">${d.allowedTenants.map((t) => html`<li>${t.name}</li>`)}</ul>`
          : 'All tenants'],
        ['Created', html`<${Time} value=${d.created} />`],
        ['Last updated', html`<${Time} value=${d.lastUpdated} />`],
      ]} />
      <h3>Default variables</h3>
      <${Json} value=${d.defaultVariables} label="Default variables" />
    <//>
    ${can.queue(me.role) && (d.enabled
      ? html`<${QueueForm} definition=${d} onQueued=${addBuild} />`
      : html`<${Section} id="queue" title="Queue a build">
          <p>This definition is disabled: it cannot be built until it is enabled again.</p>
        <//>`)}
    <${Section} id="definition-builds" title="Builds"
      actions=${html`<a href=${link(['builds'], { definition: d.id })}>All ${builds.totalCount} builds of this definition</a>`}>
      ${builds.ids.length === 0
        ? html`<p class="empty">No build yet.</p>`
        : html`<${BuildTable} ids=${builds.ids} showActions=${acts(me.role)} hideDefinition=${true}
            caption=${`Newest builds of ${d.name}`} />`}
    <//>
    <${TemplatePanel} document=${DEFINITION_TEMPLATE} id=${d.id} field="imageDefinition" />
  `;
}

const QUEUE_FIELDS = ['outputVmid', 'outputName', 'imageVersion', 'variables'];
const EMPTY = { outputVmid: '', outputName: '', imageVersion: '', variables: '' };

/** Queues a build of `definition` (SPEC §2.2); the API's field errors show next to each field. */
function QueueForm({ definition, onQueued }) {
  const { announce } = useSession();
  const [values, setValues] = useState(EMPTY);
  const [errors, setErrors] = useState({});
  const [failure, setFailure] = useState(null);
  const [queued, setQueued] = useState(null);
  const [busy, setBusy] = useState(false);
  // The same input sent again (after a lost answer) reuses its key, so it queues once.
  const key = useRef(idempotencyKey());
  const form = useRef(null);

  const set = (name) => (e) => {
    key.current = idempotencyKey();
    setValues({ ...values, [name]: e.currentTarget.value });
  };

  const submit = async (e) => {
    e.preventDefault();
    setFailure(null);
    setQueued(null);
    const found = {};
    const input = { definitionId: definition.id, idempotencyKey: key.current };
    const vmid = values.outputVmid.trim();
    if (!/^-?\d+$/.test(vmid)) found.outputVmid = ['Enter the VMID of the output template, a whole number.'];
    else input.outputVmid = Number(vmid);
    if (values.outputName.trim()) input.outputName = values.outputName.trim();
    if (values.imageVersion.trim()) input.imageVersion = values.imageVersion.trim();
    if (values.variables.trim()) {
      try {
        input.variables = JSON.parse(values.variables);
      } catch (parseError) {
        found.variables = [`Not valid JSON: ${parseError.message}`];
      }
    }
    setErrors(found);
    if (Object.keys(found).length) {
      focusFirstInvalid(form.current);
      return;
    }
    setBusy(true);
    try {
      const data = await graphql(QUEUE_BUILD, { input });
      const build = putBuild(data.queueImageBuild);
      onQueued(build);
      setQueued(build);
      setValues(EMPTY);
      key.current = idempotencyKey();
      announce(`Build ${build.outputName} queued.`);
    } catch (error) {
      const fields = error.fields ?? {};
      setErrors(fields);
      const others = otherFieldErrors(fields, QUEUE_FIELDS);
      if (Object.keys(fields).length === 0) setFailure(error);
      else if (others.length) setFailure({ errors: others });
      focusFirstInvalid(form.current);
    } finally {
      setBusy(false);
    }
  };

  return html`<${Section} id="queue" title="Queue a build">
    <form ref=${form} class="form" noValidate onSubmit=${submit} aria-describedby="queue-help">
      <p class="hint" id="queue-help">Empty fields take the service's defaults:
        name <code>${definition.slug}-YYYYMMDD</code>, version the queue date.</p>
      <div class="form-grid">
        <${Field} id="queue-vmid" name="outputVmid" label="Output VMID" required inputMode="numeric"
          autocomplete="off" hint="VMID of the template to create, 100 to 999999999."
          value=${values.outputVmid} onInput=${set('outputVmid')} errors=${errors.outputVmid} />
        <${Field} id="queue-name" name="outputName" label="Output name" autocomplete="off"
          value=${values.outputName} onInput=${set('outputName')} errors=${errors.outputName} />
        <${Field} id="queue-version" name="imageVersion" label="Image version" autocomplete="off"
          value=${values.imageVersion} onInput=${set('imageVersion')} errors=${errors.imageVersion} />
      </div>
      <${Field} id="queue-variables" name="variables" label="Variables (JSON object)" control="textarea"
        rows="4" spellcheck="false" placeholder=${json({ memory_mb: 4096, cores: 4 })}
        hint="Overrides of the default variables: vm_storage, cloud_init_storage, bridge, memory_mb, cores, cpu_type."
        value=${values.variables} onInput=${set('variables')} errors=${errors.variables} />
      <${ErrorAlert} error=${failure} title="The build was not queued" />
      ${queued && html`<${Notice}>Queued <a href=${link(['builds', queued.id])}>${queued.outputName}</a>.<//>`}
      <div class="form-actions">
        <button type="submit" class="button button-primary" disabled=${busy}>${busy ? 'Queueing…' : 'Queue build'}</button>
      </div>
    </form>
  <//>`;
}
