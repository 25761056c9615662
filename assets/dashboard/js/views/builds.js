// The builds list: newest first, filters by status, definition and tenant, cursor paging, and
// live: status changes show in place (from the store) and builds queued meanwhile are added
// on top of the first page when they match the filters — without asking the service again.

import { html, useEffect, useRef, useState } from '../html.js';
import { graphql } from '../api.js';
import { BUILDS, BUILD_FILTER_CHOICES } from '../queries.js';
import { STATUS_LABEL } from '../format.js';
import { getBuild, putBuilds, useBuildStore } from '../store.js';
import { link, navigate } from '../router.js';
import {
  Badge, ErrorAlert, Field, Loading, PageHeading, Pager, Time, useLiveEvents, useSession,
} from '../components.js';
import { BuildActions, acts } from './actions.js';

export const PAGE_SIZE = 25;

/**
 * `aria-busy` of a list: true until it shows the answer for the route's query `key` (the list
 * also names that query in `data-shown`, which the browser tests wait for).
 */
export const busy = (page, key, error) => (!error && page?.key !== key ? 'true' : 'false');

/** `first`/`after` or `last`/`before` of the route. */
export function pageArguments(query) {
  const before = query.get('before');
  return before ? { last: PAGE_SIZE, before } : { first: PAGE_SIZE, after: query.get('after') };
}

const FILTERS = ['status', 'definition', 'tenant'];

function toFilter(filters) {
  const filter = {};
  if (filters.status) filter.status = { eq: filters.status };
  if (filters.definition) filter.definition = { eq: filters.definition };
  if (filters.tenant) filter.tenant = { eq: filters.tenant };
  return filter;
}

/** Whether a build (as the API gave it) passes the filters — for builds queued live. */
function matches(build, filters) {
  return (!filters.status || build.status === filters.status)
    && (!filters.definition || build.definition?.id === filters.definition)
    && (!filters.tenant || (build.definition?.allowedTenants ?? []).some((t) => t.id === filters.tenant));
}

let choices = null;

/** The definitions and tenants to filter by, asked once per sign-in. */
function useChoices(token) {
  const [value, setValue] = useState(choices?.token === token ? choices.value : null);
  useEffect(() => {
    if (choices?.token === token) return;
    graphql(BUILD_FILTER_CHOICES)
      .then((data) => {
        choices = { token, value: data };
        setValue(data);
      })
      .catch(() => setValue({ imageDefinitions: { nodes: [] }, tenants: { nodes: [] } }));
  }, [token]);
  return value;
}

/** Options of a filter select; a chosen id not among them (beyond the first 100) is kept. */
function options(all, nodes, chosen) {
  const list = [['', all], ...(nodes ?? []).map((node) => [node.id, node.name])];
  if (chosen && !list.some(([id]) => id === chosen)) list.push([chosen, `(id ${chosen})`]);
  return list;
}

export function Builds({ query }) {
  const { me, token } = useSession();
  useBuildStore();
  const filters = Object.fromEntries(FILTERS.map((name) => [name, query.get(name) ?? '']));
  const firstPage = !query.get('after') && !query.get('before');
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const queuedMeanwhile = useRef([]);
  const choiceData = useChoices(token);
  const key = query.toString();

  useEffect(() => {
    let current = true;
    setPage(null);
    setError(null);
    queuedMeanwhile.current = [];
    graphql(BUILDS, { filter: toFilter(filters), ...pageArguments(query) })
      .then((data) => {
        if (!current) return;
        const connection = data.imageBuilds;
        let ids = putBuilds(connection.nodes);
        let totalCount = connection.totalCount;
        if (firstPage) {
          for (const build of queuedMeanwhile.current.filter((b) => matches(b, filters))) {
            if (!ids.includes(build.id)) {
              ids = [build.id, ...ids];
              totalCount += 1;
            }
          }
        }
        setPage({ key, ids, totalCount, pageInfo: connection.pageInfo });
      })
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [key]);

  useLiveEvents((event) => {
    if (event.previousStatus !== null || !firstPage) return;
    if (!page) {
      queuedMeanwhile.current.push(event.build);
      return;
    }
    if (!matches(event.build, filters)) return;
    setPage((shown) => (shown.ids.includes(event.build.id)
      ? shown
      : { ...shown, ids: [event.build.id, ...shown.ids], totalCount: shown.totalCount + 1 }));
  });

  const change = (name) => (e) => {
    navigate(link(['builds'], { ...filters, [name]: e.currentTarget.value }));
  };
  const showActions = acts(me.role);

  return html`
    <${PageHeading} title="Image builds" />
    <form class="filters" role="search" aria-label="Filter builds" onSubmit=${(e) => e.preventDefault()}>
      <${Field} id="builds-status" name="status" label="Status" control="select" value=${filters.status}
        onChange=${change('status')}
        options=${[['', 'Any status'], ...Object.entries(STATUS_LABEL)]} />
      <${Field} id="builds-definition" name="definition" label="Definition" control="select"
        value=${filters.definition} onChange=${change('definition')}
        options=${options('All definitions', choiceData?.imageDefinitions.nodes, filters.definition)} />
      <${Field} id="builds-tenant" name="tenant" label="Tenant" control="select" value=${filters.tenant}
        onChange=${change('tenant')}
        options=${options('All tenants', choiceData?.tenants.nodes, filters.tenant)} />
      ${FILTERS.some((name) => filters[name])
        && html`<a class="button button-quiet" href=${link(['builds'])}>Clear filters</a>`}
    </form>
    <${ErrorAlert} error=${error} title="The builds could not be loaded" />
    <div class="results" aria-busy=${busy(page, key, error)} data-shown=${page?.key ?? ''}>
    ${!page && !error && html`<${Loading} what="Loading builds" />`}
    ${page && html`
      <p class="count" id="builds-count">${page.totalCount} ${page.totalCount === 1 ? 'build' : 'builds'}</p>
      ${page.ids.length === 0
        ? html`<p class="empty">No build matches these filters.</p>`
        : html`<${BuildTable} ids=${page.ids} showActions=${showActions} caption="Image builds, newest first" />`}
      <${Pager} pageInfo=${page.pageInfo} path=${['builds']} query=${query} label="builds" />`}
    </div>
  `;
}

/** A table of builds (ids read through the store, so rows change live). */
export function BuildTable({ ids, showActions, caption, hideDefinition = false }) {
  return html`<div class="table-wrap">
    <table class="table responsive">
      <caption class="visually-hidden">${caption}</caption>
      <thead><tr>
        <th scope="col">Output</th>
        <th scope="col">Status</th>
        ${!hideDefinition && html`<th scope="col">Definition</th>`}
        <th scope="col">VMID</th>
        <th scope="col">Version</th>
        <th scope="col">Queued</th>
        <th scope="col">Ended</th>
        <th scope="col">By</th>
        ${showActions && html`<th scope="col"><span class="visually-hidden">Actions</span></th>`}
      </tr></thead>
      <tbody>
        ${ids.map((id) => {
          const build = getBuild(id);
          return html`<tr key=${id} data-build=${id}>
            <th scope="row" data-label="Output"><a href=${link(['builds', id])}>${build.outputName}</a></th>
            <td data-label="Status"><${Badge} build=${build} /></td>
            ${!hideDefinition && html`<td data-label="Definition">
              <a href=${link(['definitions', build.definition.id])}>${build.definition.name}</a></td>`}
            <td data-label="VMID" class="num">${build.outputVmid}</td>
            <td data-label="Version" class="nowrap">${build.imageVersion}</td>
            <td data-label="Queued"><${Time} value=${build.created} compact /></td>
            <td data-label="Ended"><${Time} value=${build.completedAt} compact /></td>
            <td data-label="By">${build.createdBy?.username ?? '—'}</td>
            ${showActions && html`<td data-label="Actions"><${BuildActions} build=${build} /></td>`}
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}
