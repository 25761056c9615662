// The rendered Packer template (SPEC §7.4) and the live build log (SPEC §7.5).
//
// Both are asked in requests of their own: a service that does not have them yet answers
// GRAPHQL_VALIDATION_FAILED to that request only, the panel hides, and the tab stops asking.

import { html, useEffect, useRef, useState } from '../html.js';
import { graphql } from '../api.js';
import { BUILD_LOG, FOLLOW_LOG } from '../queries.js';
import { final } from '../format.js';
import { ErrorAlert, Loading, Section, useSession } from '../components.js';

/** What this service turned out not to have: `{ packerTemplate, log, buildLog }` → false. */
const missing = {};

/** A subscription error saying the document names a field the schema does not have. */
function unsupported(error) {
  return Array.isArray(error)
    && error.some((e) => e.extensions?.code === 'GRAPHQL_VALIDATION_FAILED' || /^Unknown field/.test(e.message));
}

/** The HCL2 the definition or build would run; `field` is `imageDefinition` or `imageBuild`. */
export function TemplatePanel({ document, id, field }) {
  const [state, setState] = useState({});
  useEffect(() => {
    if (missing.packerTemplate) return undefined;
    let current = true;
    setState({});
    graphql(document, { id })
      .then((data) => current && setState({ text: data[field].packerTemplate }))
      .catch((error) => {
        if (error.unsupported) missing.packerTemplate = true;
        if (current) setState({ error });
      });
    return () => {
      current = false;
    };
  }, [id]);
  if (missing.packerTemplate) return null;
  return html`<${Section} id="template" title="Packer template">
    ${state.text === undefined && !state.error && html`<${Loading} what="Rendering the template" />`}
    <${ErrorAlert} error=${state.error} title="The template could not be rendered" />
    ${state.text !== undefined
      && html`<pre class="code template" tabindex="0" aria-label="Packer template (HCL2)">${state.text}</pre>`}
  </${Section}>`;
}

const MAX_LINES = 20000;

/**
 * The build's log: the first page, then the rest and every new line over the `buildLog`
 * subscription (resuming after the last line received when the connection drops), until the
 * service ends it after the final line of a finished build.
 */
export function LogPanel({ build }) {
  const { live } = useSession();
  const [state, setState] = useState({ lines: [], phase: 'loading' });
  const pending = useRef([]);
  const view = useRef(null);
  const atBottom = useRef(true);
  const status = useRef(build.status);
  status.current = build.status;

  useEffect(() => {
    if (missing.log) return undefined;
    let current = true;
    let stop = null;
    let frame = 0;
    const flush = () => {
      frame = 0;
      const lines = pending.current;
      pending.current = [];
      setState((shown) => {
        const all = shown.lines.concat(lines);
        const dropped = Math.max(0, all.length - MAX_LINES);
        return { ...shown, lines: dropped ? all.slice(dropped) : all, dropped: (shown.dropped ?? 0) + dropped };
      });
    };
    setState({ lines: [], phase: 'loading' });
    graphql(BUILD_LOG, { id: build.id })
      .then((data) => {
        if (!current) return;
        const log = data.imageBuild.log;
        const lines = log.nodes;
        const needMore = log.pageInfo.hasNextPage || !final(status.current);
        setState({ lines, phase: needMore && !missing.buildLog ? 'following' : 'done' });
        if (!needMore || missing.buildLog) return;
        const payload = { query: FOLLOW_LOG, variables: { id: build.id, after: lines.at(-1)?.seq ?? 0 } };
        stop = live.subscribe(payload, {
          next: ({ data: next }) => {
            const line = next?.buildLog;
            if (!line || line.seq <= payload.variables.after) return;
            payload.variables.after = line.seq;
            pending.current.push(line);
            if (!frame) frame = requestAnimationFrame(flush);
          },
          error: (error) => {
            if (unsupported(error)) missing.buildLog = true;
            if (current) setState((shown) => ({ ...shown, phase: unsupported(error) ? 'done' : 'stopped' }));
          },
          complete: () => current && setState((shown) => ({ ...shown, phase: 'done' })),
        });
      })
      .catch((error) => {
        if (error.unsupported) missing.log = true;
        if (current) setState({ lines: [], phase: 'error', error });
      });
    return () => {
      current = false;
      if (frame) cancelAnimationFrame(frame);
      stop?.();
    };
  }, [build.id]);

  // Follow the end of the log unless the reader scrolled up.
  useEffect(() => {
    if (view.current && atBottom.current) view.current.scrollTop = view.current.scrollHeight;
  }, [state.lines.length]);

  if (missing.log) return null;
  const onScroll = (e) => {
    const el = e.currentTarget;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  };
  const phase = {
    loading: 'Loading the log…',
    following: 'Following the log live.',
    done: 'End of the log.',
    stopped: 'The live log stopped; reload the page to follow it again.',
    error: '',
  }[state.phase];
  return html`<${Section} id="log" title="Build log">
    <${ErrorAlert} error=${state.error} title="The log could not be loaded" />
    ${state.dropped > 0 && html`<p class="hint">The first ${state.dropped} lines are not shown.</p>`}
    ${state.phase !== 'error' && html`<pre class="code log" tabindex="0" aria-label="Build log lines"
      ref=${view} onScroll=${onScroll}>${state.lines.length === 0 && state.phase !== 'loading'
        ? html`<span class="log-empty">No log lines yet.</span>`
        : state.lines.map((line) => html`<span key=${line.seq} class=${`log-line log-${String(line.stream).toLowerCase()}`}
          >${line.line}${'\n'}</span>`)}</pre>`}
    <p class="hint" role="status">${phase}</p>
  </${Section}>`;
}
