// Routes live in the fragment (`#/builds/42?status=RUNNING`): the service serves one page at `/`,
// and `/#token=…` (the bootstrap link) is read once, then removed from the address bar.

import { useEffect, useState } from './html.js';

/** `#/a/b?x=1` → `{ path: ['a', 'b'], query: URLSearchParams }`. */
export function parse(hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  return {
    path: path.split('/').filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(query),
  };
}

/** The fragment of a route: `link(['builds', id], { status: 'RUNNING' })`. Empty values are dropped. */
export function link(path, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, value);
  }
  const search = params.toString();
  return '#/' + path.map(encodeURIComponent).join('/') + (search ? `?${search}` : '');
}

export function navigate(fragment) {
  location.hash = fragment;
}

/** Takes a token out of `#token=…`, leaving `#/` in the address bar and in the history. */
export function takeBootstrapToken() {
  if (!location.hash.startsWith('#token=')) return null;
  const token = decodeURIComponent(location.hash.slice('#token='.length));
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  return token || null;
}

/** The current route; re-renders on every change of the fragment. */
export function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const update = () => setHash(location.hash);
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return { hash, ...parse(hash) };
}
