// The definitions list: search (`q`), filters (builder type, OS family, enabled), cursor paging,
// and each definition's latest build, kept live.

import { html, useEffect, useState } from '../html.js';
import { graphql } from '../api.js';
import { DEFINITIONS } from '../queries.js';
import { BUILDER_LABEL, OS_LABEL, compareStamps, label } from '../format.js';
import { getBuild, putBuild, useBuildStore } from '../store.js';
import { link, navigate } from '../router.js';
import {
  Badge, ErrorAlert, Field, Loading, PageHeading, Pager, useLiveEvents,
} from '../components.js';
import { busy, pageArguments } from './builds.js';

const FILTERS = ['q', 'builderType', 'osFamily', 'enabled'];

function toFilter(filters) {
  const filter = {};
  if (filters.q.trim()) filter.q = filters.q.trim();
  if (filters.builderType) filter.builderType = { eq: filters.builderType };
  if (filters.osFamily) filter.osFamily = { eq: filters.osFamily };
  if (filters.enabled) filter.enabled = { eq: filters.enabled === 'true' };
  return filter;
}

export function Definitions({ query }) {
  useBuildStore();
  const filters = Object.fromEntries(FILTERS.map((name) => [name, query.get(name) ?? '']));
  const [search, setSearch] = useState(filters.q);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const key = query.toString();

  useEffect(() => {
    let current = true;
    setSearch(filters.q);
    setPage(null);
    setError(null);
    graphql(DEFINITIONS, { filter: toFilter(filters), ...pageArguments(query) })
      .then((data) => {
        if (!current) return;
        const connection = data.imageDefinitions;
        for (const definition of connection.nodes) {
          if (definition.latestBuild) definition.latestBuild = putBuild(definition.latestBuild);
        }
        setPage({ ...connection, key });
      })
      .catch((failure) => current && setError(failure));
    return () => {
      current = false;
    };
  }, [key]);

  // A build queued meanwhile becomes its definition's latest build.
  useLiveEvents((event) => {
    if (event.previousStatus !== null || !page) return;
    const definitionId = event.build.definition.id;
    setPage((shown) => ({
      ...shown,
      nodes: shown.nodes.map((definition) => (
        definition.id === definitionId
          && compareStamps(event.build.created, definition.latestBuild?.created) >= 0
          ? { ...definition, latestBuild: event.build }
          : definition)),
    }));
  });

  const apply = (changes) => navigate(link(['definitions'], { ...filters, ...changes }));
  const select = (name) => (e) => apply({ [name]: e.currentTarget.value });

  return html`
    <${PageHeading} title="Image definitions" />
    <form class="filters" role="search" aria-label="Search definitions"
      onSubmit=${(e) => { e.preventDefault(); apply({ q: search }); }}>
      <div class="search">
        <${Field} id="definitions-q" name="q" type="search" label="Search name or description"
          value=${search} onInput=${(e) => setSearch(e.currentTarget.value)} />
        <button type="submit" class="button">Search</button>
      </div>
      <${Field} id="definitions-builder" name="builderType" label="Builder" control="select"
        value=${filters.builderType} onChange=${select('builderType')}
        options=${[['', 'Any builder'], ...Object.entries(BUILDER_LABEL)]} />
      <${Field} id="definitions-os" name="osFamily" label="OS family" control="select"
        value=${filters.osFamily} onChange=${select('osFamily')}
        options=${[['', 'Any OS family'], ...Object.entries(OS_LABEL)]} />
      <${Field} id="definitions-enabled" name="enabled" label="Enabled" control="select"
        value=${filters.enabled} onChange=${select('enabled')}
        options=${[['', 'Enabled or not'], ['true', 'Enabled only'], ['false', 'Disabled only']]} />
      ${FILTERS.some((name) => filters[name])
        && html`<a class="button button-quiet" href=${link(['definitions'])}>Clear filters</a>`}
    </form>
    <${ErrorAlert} error=${error} title="The definitions could not be loaded" />
    <div class="results" aria-busy=${busy(page, key, error)} data-shown=${page?.key ?? ''}>
    ${!page && !error && html`<${Loading} what="Loading definitions" />`}
    ${page && html`
      <p class="count">${page.totalCount} ${page.totalCount === 1 ? 'definition' : 'definitions'}</p>
      ${page.nodes.length === 0
        ? html`<p class="empty">No definition matches.</p>`
        : html`<div class="table-wrap"><table class="table responsive">
          <caption class="visually-hidden">Image definitions</caption>
          <thead><tr>
            <th scope="col">Name</th><th scope="col">Builder</th><th scope="col">OS</th>
            <th scope="col">Node</th><th scope="col">Enabled</th><th scope="col">Tenants</th>
            <th scope="col">Latest build</th>
          </tr></thead>
          <tbody>${page.nodes.map((definition) => {
            const latest = definition.latestBuild && getBuild(definition.latestBuild.id, definition.latestBuild);
            return html`<tr key=${definition.id} data-definition=${definition.id}>
              <th scope="row" data-label="Name"><a href=${link(['definitions', definition.id])}>${definition.name}</a></th>
              <td data-label="Builder">${label(BUILDER_LABEL, definition.builderType)}</td>
              <td data-label="OS">${label(OS_LABEL, definition.osFamily)} ${definition.osRelease}</td>
              <td data-label="Node">${definition.targetNode}</td>
              <td data-label="Enabled">${definition.enabled ? 'Yes' : 'No'}</td>
              <td data-label="Tenants">${definition.allowedTenants.length
                ? definition.allowedTenants.map((t) => t.name).join(', ') : 'All'}</td>
              <td data-label="Latest build">${latest
                ? html`<a href=${link(['builds', latest.id])} class="badge-link"><${Badge} build=${latest} />
                    <span class="visually-hidden"> ${latest.outputName}</span></a>`
                : 'None yet'}</td>
            </tr>`;
          })}</tbody>
        </table></div>`}
      <${Pager} pageInfo=${page.pageInfo} path=${['definitions']} query=${query} label="definitions" />`}
    </div>
  `;
}
