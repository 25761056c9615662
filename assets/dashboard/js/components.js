// Small pieces every view uses: the session context, badges, times, fields with their errors,
// paging links, page headings that take the focus, alerts.

import { createContext, html, useContext, useEffect, useRef } from './html.js';
import { STATUS_LABEL, json, label, when } from './format.js';
import { link } from './router.js';

/** `{ me, live, announce }` of the signed-in tab. */
export const Session = createContext(null);

export const useSession = () => useContext(Session);

/** Calls `handler(event)` for every live status change while the component is mounted. */
export function useLiveEvents(handler) {
  const { live } = useSession();
  const current = useRef(handler);
  current.current = handler;
  useEffect(() => live.on((event) => current.current(event)), [live]);
}

/**
 * A status badge in the colour the API gives (`statusColor`: the seed's green, blue, red,
 * yellow, grey), always with the status in words so colour is never the only signal.
 */
export function Badge({ build }) {
  if (!build) return '—';
  const colour = (build.statusColor ?? 'GREY').toLowerCase();
  return html`<span class=${`badge badge-${colour}`} data-status=${build.status}
    >${label(STATUS_LABEL, build.status)}</span>`;
}

/** A timestamp; `compact` (in tables) drops the year and seconds, the title keeps them. */
export function Time({ value, compact = false }) {
  if (!value) return '—';
  return html`<time datetime=${value} title=${when(value)}>${when(value, compact)}</time>`;
}

export function Json({ value, label: name }) {
  return html`<pre class="code" tabindex="0" aria-label=${name}>${json(value)}</pre>`;
}

export function Loading({ what = 'Loading' }) {
  return html`<p class="loading" role="status">${what}…</p>`;
}

/** An error of the API, as an alert; `fields` errors are listed with the field names. */
export function ErrorAlert({ error, title = 'Something went wrong' }) {
  if (!error) return null;
  const errors = error.errors ?? [{ message: String(error.message ?? error) }];
  return html`<div class="alert alert-error" role="alert">
    <p class="alert-title">${title}</p>
    <ul>${errors.map((e) => html`<li>${e.message}${e.extensions?.code
      ? html` <span class="code-name">(${e.extensions.code})</span>` : ''}</li>`)}</ul>
  </div>`;
}

/** A success or information message, announced politely. */
export function Notice({ children }) {
  return html`<div class="alert alert-ok" role="status">${children}</div>`;
}

let firstHeading = true;

/**
 * The page's `<h1>`; it sets the document title and, when the page was reached by navigating
 * within the dashboard, takes the focus so a screen reader announces the new page.
 */
export function PageHeading({ title, children }) {
  const heading = useRef(null);
  useEffect(() => {
    document.title = `${title} · packer-gateway`;
  }, [title]);
  useEffect(() => {
    if (firstHeading) firstHeading = false;
    else heading.current?.focus();
  }, []);
  return html`<div class="page-heading">
    <h1 tabindex="-1" ref=${heading}>${title}</h1>
    ${children}
  </div>`;
}

/** A titled section whose heading names it for assistive technologies. */
export function Section({ id, title, children, actions }) {
  return html`<section class="panel" aria-labelledby=${`${id}-title`}>
    <div class="panel-head"><h2 id=${`${id}-title`}>${title}</h2>${actions}</div>
    ${children}
  </section>`;
}

/** A description list of `[term, value]` rows. */
export function Details({ rows }) {
  return html`<dl class="details">
    ${rows.map(([term, value]) => html`<div class="detail"><dt>${term}</dt><dd>${value ?? '—'}</dd></div>`)}
  </dl>`;
}

/**
 * A form field: label, optional hint, control, and the messages the API gave for it
 * (`extensions.fields`), tied to the control by `aria-describedby` and `aria-invalid`.
 * `control` is `input` (default), `select` (with `options: [[value, label], …]`), `textarea`
 * or `checkbox`; other attributes go to the control.
 */
export function Field({ id, name, label: text, hint, errors, control = 'input', options = [], required, ...attrs }) {
  const invalid = errors?.length > 0;
  const described = [hint && `${id}-hint`, invalid && `${id}-error`].filter(Boolean).join(' ');
  const common = {
    id,
    name,
    required,
    'aria-invalid': invalid ? 'true' : undefined,
    'aria-describedby': described || undefined,
    ...attrs,
  };
  const mark = required ? html`<span class="required" aria-hidden="true"> *</span>` : '';
  const hintText = hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`;
  const errorText = invalid && html`<p class="field-error" id=${`${id}-error`} data-field=${name}>
    <span class="visually-hidden">Error: </span>${errors.join(' ')}</p>`;
  if (control === 'checkbox') {
    return html`<div class=${`field field-check${invalid ? ' field-invalid' : ''}`}>
      <input type="checkbox" ...${common} />
      <label for=${id}>${text}</label>
      ${hintText}${errorText}
    </div>`;
  }
  let input;
  if (control === 'select') {
    input = html`<select ...${common}>
      ${options.map(([value, optionLabel]) => html`<option value=${value}>${optionLabel}</option>`)}
    </select>`;
  } else if (control === 'textarea') {
    input = html`<textarea ...${common}></textarea>`;
  } else {
    input = html`<input ...${common} />`;
  }
  return html`<div class=${`field${invalid ? ' field-invalid' : ''}`}>
    <label for=${id}>${text}${mark}</label>
    ${hintText}${input}${errorText}
  </div>`;
}

/** Moves the focus to the first control marked invalid in `form` (after a refused submit). */
export function focusFirstInvalid(form) {
  requestAnimationFrame(() => form?.querySelector('[aria-invalid="true"]')?.focus());
}

/**
 * Previous / next links of a cursor-paged list; `path` and `query` rebuild the current route,
 * whose `after` / `before` they replace.
 */
export function Pager({ pageInfo, path, query, label: what }) {
  if (!pageInfo || (!pageInfo.hasPreviousPage && !pageInfo.hasNextPage)) return null;
  const base = Object.fromEntries(query);
  delete base.after;
  delete base.before;
  return html`<nav class="pager" aria-label=${`Pages of ${what}`}>
    ${pageInfo.hasPreviousPage
      ? html`<a class="button" href=${link(path, { ...base, before: pageInfo.startCursor })}>← Previous page</a>`
      : html`<span class="button" aria-disabled="true">← Previous page</span>`}
    ${pageInfo.hasNextPage
      ? html`<a class="button" href=${link(path, { ...base, after: pageInfo.endCursor })}>Next page →</a>`
      : html`<span class="button" aria-disabled="true">Next page →</span>`}
  </nav>`;
}

/** Fields of `extensions.fields` that `known` does not show, as `name: message` lines. */
export function otherFieldErrors(fields, known) {
  return Object.entries(fields)
    .filter(([name]) => !known.includes(name))
    .map(([name, messages]) => ({ message: `${name}: ${messages.join(' ')}` }));
}
