// Apollo Client 3, set up as a frontend app would set it up, against a running packer-gateway:
// a split link (subscriptions over graphql-ws, everything else over HTTP behind the automatic
// persisted queries link, hashed queries over GET), a normalized InMemoryCache with
// `relayStylePagination` for the build list.
//
//   APOLLO_URL=http://127.0.0.1:8000/graphql APOLLO_TOKEN=<admin token> \
//   APOLLO_FIXTURE='{"definition": "<id>", "builds": 7, "lastEvent": "<id>"}' node tests/tools/apollo.mjs
//
// The fixture: a definition (`definition`) with `builds` builds, optionally the newest event
// (`lastEvent`, else the whole history is replayed first), the image factory on.
// Each step prints `ok <step>`; the last line is a JSON summary. Exits 1 on the first failure.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql, split } from '@apollo/client/core/index.js';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities/index.js';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.APOLLO_URL;
const token = process.env.APOLLO_TOKEN;
const fixture = JSON.parse(process.env.APOLLO_FIXTURE ?? '{}');
if (!url || !token || !fixture.definition) {
  console.error('set APOLLO_URL, APOLLO_TOKEN and APOLLO_FIXTURE');
  process.exit(2);
}

/** Every HTTP request the clients send: method, whether it carried the document, its hash. */
const requests = [];

async function recordingFetch(input, init = {}) {
  const target = new URL(typeof input === 'string' ? input : input.url);
  let body = {};
  if (init.body) body = JSON.parse(init.body);
  else {
    for (const [key, value] of target.searchParams) {
      body[key] = key === 'variables' || key === 'extensions' ? JSON.parse(value) : value;
    }
  }
  const response = await fetch(input, init);
  requests.push({
    method: init.method ?? 'GET',
    query: typeof body.query === 'string',
    hash: body.extensions?.persistedQuery?.sha256Hash ?? null,
    operation: body.operationName ?? null,
    status: response.status,
  });
  return response;
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** A client as an app builds it: its own cache, and its own websocket. */
function makeClient() {
  const http = new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` }, fetch: recordingFetch });
  const persisted = createPersistedQueryLink({ sha256, useGETForHashedQueries: true });
  const wsClient = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
  });
  const link = split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(wsClient),
    ApolloLink.from([persisted, http]),
  );
  const cache = new InMemoryCache({
    typePolicies: {
      Query: { fields: { imageBuilds: relayStylePagination(['filter', 'orderBy']) } },
    },
  });
  return { client: new ApolloClient({ link, cache }), wsClient };
}

const summary = { steps: [] };
function ok(step, details = {}) {
  summary.steps.push(step);
  Object.assign(summary, details);
  console.log(`ok ${step}`);
}

const NESTED = gql`
  query Nested($id: ID!) {
    imageDefinition(id: $id) {
      id
      name
      proxmoxEndpoint { id name }
      targetCluster { id name }
      latestBuild { id status statusColor definition { id name } }
      builds(first: 2) { totalCount nodes { id status events { id toStatus } } }
    }
  }
`;

const BUILDS = gql`
  query Builds($filter: ImageBuildFilter, $first: Int, $after: String) {
    imageBuilds(filter: $filter, first: $first, after: $after) {
      edges { cursor node { id status outputName } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

const SETTINGS = gql`
  query Settings { pluginSettings { id imageFactoryAllowCustomVariables } }
`;

const UPDATE_SETTINGS = gql`
  mutation UpdateSettings($on: Boolean!) {
    updatePluginSettings(input: { imageFactoryAllowCustomVariables: $on }) {
      id imageFactoryAllowCustomVariables
    }
  }
`;

const CREATE = gql`
  mutation Create($input: CreateImageDefinitionInput!) { createImageDefinition(input: $input) { id } }
`;

const STATUS = gql`
  subscription Status($definition: ID!, $after: ID) {
    buildStatusChanged(filter: { definitionId: $definition }, afterEventId: $after) {
      eventId status previousStatus build { id status outputName }
    }
  }
`;

const QUEUE = gql`
  mutation Queue($definition: ID!, $vmid: Int!) {
    queueImageBuild(input: { definitionId: $definition, outputVmid: $vmid }) { id status }
  }
`;

const CANCEL = gql`
  mutation Cancel($id: ID!) { cancelImageBuild(id: $id) { id status } }
`;

const first = makeClient();
const { client } = first;

try {
  // 1. An APQ miss, then the document; then a hit from another client (a fresh cache).
  const nested = await client.query({ query: NESTED, variables: { id: fixture.definition } });
  const [miss, retry] = requests;
  assert.equal(requests.length, 2, JSON.stringify(requests));
  assert.deepEqual([miss.method, miss.query, miss.status], ['GET', false, 200], 'the hash alone, over GET');
  assert.ok(miss.hash);
  assert.deepEqual([retry.method, retry.query, retry.hash], ['POST', true, miss.hash], 'then the document');
  const second = makeClient();
  const again = await second.client.query({ query: NESTED, variables: { id: fixture.definition } });
  assert.equal(requests.length, 3);
  assert.deepEqual(
    [requests[2].method, requests[2].query, requests[2].hash, requests[2].status],
    ['GET', false, miss.hash, 200],
    'a hit: the hash alone',
  );
  assert.deepEqual(again.data, nested.data);
  second.client.stop();
  await second.wsClient.dispose();
  ok('apq miss then hit', { apq: requests.slice(0, 3) });

  // 2. A nested query, normalized by global id.
  const definition = nested.data.imageDefinition;
  assert.equal(definition.id, fixture.definition);
  assert.ok(definition.proxmoxEndpoint.name && definition.targetCluster.name);
  assert.equal(definition.latestBuild.definition.id, definition.id);
  assert.equal(definition.builds.totalCount, fixture.builds);
  assert.equal(definition.builds.nodes.length, 2);
  const cached = client.cache.extract();
  const build = definition.builds.nodes[0];
  assert.ok(cached[client.cache.identify(build)], 'builds are cache records of their own');
  const ids = new Set(Object.values(cached).map((record) => record.id).filter(Boolean));
  const types = Object.keys(cached).filter((key) => key !== 'ROOT_QUERY').map((key) => key.split(':')[0]);
  assert.equal(ids.size, types.length, 'one id per record, whatever its type');
  ok('nested query', { records: types.length });

  // 3. Cursor paging merged by relayStylePagination.
  const filter = { definition: { eq: fixture.definition } };
  const watch = client.watchQuery({ query: BUILDS, variables: { filter, first: 3 } });
  let watching;
  let result = await new Promise((resolve, reject) => {
    watching = watch.subscribe({ next: (answer) => !answer.loading && resolve(answer), error: reject });
  });
  let fetches = 1;
  while (result.data.imageBuilds.pageInfo.hasNextPage) {
    await watch.fetchMore({ variables: { after: result.data.imageBuilds.pageInfo.endCursor } });
    result = { data: client.readQuery({ query: BUILDS, variables: { filter, first: 3 } }) };
    fetches += 1;
    assert.ok(fetches < 10, 'paging ends');
  }
  watching.unsubscribe();
  const merged = result.data.imageBuilds.edges.map((edge) => edge.node.id);
  assert.ok(fetches > 1, 'more than one page');
  const plain = await client.query({ query: BUILDS, variables: { filter, first: 50 }, fetchPolicy: 'no-cache' });
  assert.deepEqual(merged, plain.data.imageBuilds.edges.map((edge) => edge.node.id));
  assert.equal(merged.length, fixture.builds);
  assert.equal(new Set(merged).size, merged.length, 'no duplicate');
  ok('relayStylePagination', { pages: fetches, paged: merged.length });

  // 4. A failing mutation's extensions.fields, in GraphQL's names.
  const failure = await client
    .mutate({
      mutation: CREATE,
      variables: {
        input: {
          name: 'x',
          slug: 'x',
          proxmoxEndpointId: definition.proxmoxEndpoint.id,
          targetNode: 'pve1',
          defaultStorage: '',
          osFamily: 'UBUNTU',
          osRelease: '24.04',
          provisionerRecipe: 'UBUNTU_BASE',
        },
      },
    })
    .then(
      () => null,
      (error) => error,
    );
  assert.ok(failure, 'the mutation fails');
  const [error] = failure.graphQLErrors;
  assert.equal(error.extensions.code, 'BAD_USER_INPUT');
  assert.deepEqual(Object.keys(error.extensions.fields).sort(), ['defaultStorage', 'sourceTemplateVmid', 'targetClusterId']);
  assert.match(error.message, /defaultStorage: is required/);
  ok('failing mutation', { fields: error.extensions.fields });

  // 5. The settings are one cache record: a mutation updates what a query showed.
  const before = await client.query({ query: SETTINGS });
  const flipped = !before.data.pluginSettings.imageFactoryAllowCustomVariables;
  await client.mutate({ mutation: UPDATE_SETTINGS, variables: { on: flipped } });
  const after = client.readQuery({ query: SETTINGS });
  assert.equal(after.pluginSettings.imageFactoryAllowCustomVariables, flipped, 'the cached settings follow');
  ok('settings normalized');

  // 6. A subscription fed by mutations; its payload updates the cached build. It starts after the
  // fixture's newest event (`lastEvent`), so that nothing committed before the server registers
  // it is missed (the history is replayed); only the events of the build queued here count.
  const events = [];
  const waiters = [];
  let queuedId = null;
  const mine = () => events.filter((event) => event.build.id === queuedId);
  const waitFor = (count) =>
    new Promise((resolve, reject) => {
      const check = () => (queuedId && mine().length >= count ? resolve() : null);
      waiters.push(check);
      check();
      setTimeout(() => reject(new Error(`${mine().length} events, not ${count}`)), 10_000).unref();
    });
  const subscription = client
    .subscribe({ query: STATUS, variables: { definition: fixture.definition, after: fixture.lastEvent ?? '0' } })
    .subscribe({
      next: ({ data }) => {
        events.push(data.buildStatusChanged);
        waiters.forEach((check) => check());
      },
      error: (err) => console.error('subscription error', err),
    });
  const queued = await client.mutate({ mutation: QUEUE, variables: { definition: fixture.definition, vmid: 9300 } });
  queuedId = queued.data.queueImageBuild.id;
  await waitFor(1);
  await client.mutate({ mutation: CANCEL, variables: { id: queuedId } });
  await waitFor(2);
  subscription.unsubscribe();
  assert.deepEqual(
    mine().map((event) => [event.build.id, event.previousStatus, event.status]),
    [
      [queuedId, null, 'PENDING'],
      [queuedId, 'PENDING', 'CANCELLED'],
    ],
  );
  const record = client.cache.extract()[client.cache.identify({ __typename: 'ImageBuild', id: queuedId })];
  assert.equal(record.status, 'CANCELLED');
  ok('subscription fed by mutations', { events: mine().length });
} catch (err) {
  console.error(`failed: ${err.stack ?? err}`);
  console.log(JSON.stringify({ ...summary, failed: String(err.message ?? err), requests }));
  process.exit(1);
} finally {
  client.stop();
  await first.wsClient.dispose();
}
console.log(JSON.stringify(summary));
process.exit(0);
