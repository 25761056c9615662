// The dashboard of packer-gateway (SPEC §8): sign-in, the layout, the routes.

import { html, render, useEffect, useMemo, useRef, useState } from './html.js';
import { graphql, onUnauthenticated, session } from './api.js';
import { START } from './queries.js';
import { ROLE_LABEL, label } from './format.js';
import { Live } from './live.js';
import { forgetBuilds, putBuild } from './store.js';
import { link, takeBootstrapToken, useRoute } from './router.js';
import { PageHeading, Session } from './components.js';
import { SignIn } from './views/signin.js';
import { Definitions } from './views/definitions.js';
import { Definition } from './views/definition.js';
import { Builds } from './views/builds.js';
import { BuildPage } from './views/build.js';
import { Settings } from './views/settings.js';

/** The folder of the dashboard's files (for the licence links), from this module's own URL. */
const ASSETS = new URL('..', import.meta.url);

/**
 * Checks `token` with `me`, and learns the newest event it can see: the live subscription
 * starts after it, so nothing that happens from now on is missed.
 */
async function start(token) {
  const data = await graphql(START, {}, token);
  const newest = data.newest.nodes[0]?.events.at(-1)?.id ?? null;
  return { me: data.me, newest };
}

function App() {
  const [signedIn, setSignedIn] = useState(null);
  const [checking, setChecking] = useState(() => Boolean(takeBootstrap() ?? session.token()));
  const [notice, setNotice] = useState(null);
  const [liveState, setLiveState] = useState('connecting');
  const [announcement, setAnnouncement] = useState('');
  const current = useRef(null);

  const signOut = (message = null) => {
    current.current?.live.stop();
    current.current = null;
    session.forget();
    forgetBuilds();
    setSignedIn(null);
    setNotice(message);
    history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  };

  const signIn = async (token) => {
    const { me, newest } = await start(token);
    session.remember(token);
    const live = new Live(token, {
      onState: setLiveState,
      onRefused: () => signOut('You were signed out: the service no longer accepts this token.'),
    });
    live.on((event) => putBuild(event.build));
    live.follow(newest);
    current.current = { token, me, live };
    setNotice(null);
    setSignedIn(current.current);
  };

  // The bootstrap link opened in a tab that already shows the dashboard: sign in with it.
  useEffect(() => {
    const follow = () => {
      const token = takeBootstrapToken();
      if (!token) return;
      signOut();
      setChecking(true);
      signIn(token)
        .catch((error) => setNotice(`Could not sign in with the link: ${error.message}`))
        .finally(() => setChecking(false));
    };
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);

  useEffect(() => {
    onUnauthenticated(() => signOut('You were signed out: the service no longer accepts this token.'));
    const token = bootstrapToken ?? session.token();
    bootstrapToken = null;
    if (!token) return;
    signIn(token)
      .catch((error) => {
        session.forget();
        setNotice(error.code === 'UNAUTHENTICATED'
          ? 'The saved token is no longer valid; paste another one.'
          : `Could not sign in: ${error.message}`);
      })
      .finally(() => setChecking(false));
  }, []);

  const context = useMemo(
    () => signedIn && { ...signedIn, announce: setAnnouncement },
    [signedIn],
  );

  if (checking && !signedIn) return html`<p class="boot" role="status">Signing in…</p>`;
  return html`
    <div class="visually-hidden" aria-live="polite" aria-atomic="true">${announcement}</div>
    ${signedIn
      ? html`<${Session.Provider} value=${context}>
          <${Layout} me=${signedIn.me} liveState=${liveState} onSignOut=${() => signOut()} />
        <//>`
      : html`<main id="main" class="main narrow" tabindex="-1">
          <${SignIn} onSignIn=${signIn} notice=${notice} />
        </main>`}
  `;
}

let bootstrapToken = null;

/** `/#token=…` (the bootstrap link): taken once, before the first render, then forgotten. */
function takeBootstrap() {
  bootstrapToken ??= takeBootstrapToken();
  return bootstrapToken;
}

const LIVE_LABEL = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: 'Live updates stopped — reload the page',
};

function Layout({ me, liveState, onSignOut }) {
  const route = useRoute();
  const main = useRef(null);
  const [section = 'builds', id] = route.path;
  const nav = [
    ['builds', 'Builds'],
    ['definitions', 'Definitions'],
    ['settings', 'Settings'],
  ];
  const skip = (e) => {
    e.preventDefault();
    main.current?.focus();
  };
  return html`
    <a class="skip-link" href=${route.hash || '#/'} onClick=${skip}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">packer-gateway</a>
      <nav aria-label="Main">
        <ul>
          ${nav.map(([name, text]) => html`<li key=${name}>
            <a href=${link([name])} aria-current=${section === name ? 'page' : undefined}>${text}</a>
          </li>`)}
          <li><a href="graphiql">GraphiQL</a></li>
        </ul>
      </nav>
      <div class="who">
        <span class=${`live live-${liveState}`} role="status" data-live=${liveState}>
          <span aria-hidden="true">●</span> ${LIVE_LABEL[liveState]}
        </span>
        <span class="user">${me.username} <span class="role">${label(ROLE_LABEL, me.role)}</span></span>
        <button type="button" class="button button-quiet" onClick=${onSignOut}>Sign out</button>
      </div>
    </header>
    <main id="main" class="main" tabindex="-1" ref=${main}>
      <${Page} key=${route.path.join('/')} section=${section} id=${id} query=${route.query} />
    </main>
    <footer class="foot">
      <p>Open-source software in this page:${' '}
        <a href=${new URL('vendor/preact/LICENSE', ASSETS)}>Preact</a> (MIT),${' '}
        <a href=${new URL('vendor/htm/LICENSE', ASSETS)}>htm</a> (Apache-2.0),${' '}
        <a href=${new URL('vendor/graphql-ws/LICENSE.md', ASSETS)}>graphql-ws</a> (MIT).
      </p>
    </footer>
  `;
}

function Page({ section, id, query }) {
  if (section === 'builds') return id ? html`<${BuildPage} id=${id} />` : html`<${Builds} query=${query} />`;
  if (section === 'definitions') {
    return id ? html`<${Definition} id=${id} />` : html`<${Definitions} query=${query} />`;
  }
  if (section === 'settings' && !id) return html`<${Settings} />`;
  return html`<${PageHeading} title="Page not found" />
    <p>There is no such page. <a href=${link(['builds'])}>See the builds</a>.</p>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
