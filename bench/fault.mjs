// The load of bench/fault.sh: reads, queue / start / complete / cancel writes and SUBSCRIBERS
// websocket subscribers against BASE for DURATION seconds, while fault.sh restarts PostgreSQL and
// kills the service. Then it checks what the issue asks and prints one JSON report:
// - no acknowledged write lost: every build whose mutation was answered has, at the end, the
//   status of its last acknowledged mutation (or of the next one, sent but never answered: it may
//   have committed before the service was killed);
// - every subscriber's events strictly in order, and none missing: each acknowledged event after
//   the subscriber's first one was received (after reconnecting with afterEventId);
// - no 5xx but 503 (refused connections while the service is down are counted apart).
// Run from bench/fault.sh (it needs `ws` from tests/tools/node_modules).
import { createRequire } from "node:module";
const require = createRequire(new URL("../tests/tools/package.json", import.meta.url));
const WebSocket = require("ws");

const BASE = process.env.BASE;
const TOKEN = process.env.TOKEN;
const DURATION = Number(process.env.DURATION ?? 150) * 1000;
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 1000);
const WRITERS = Number(process.env.WRITERS ?? 4);
const READERS = Number(process.env.READERS ?? 4);

const statuses = {}; // HTTP status → count
let refused = 0; // no HTTP answer (the service is down)
const graphqlErrors = {}; // code → count
const closeCodes = {}; // websocket close code → count
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rowOf = (gid) => Number(Buffer.from(gid, "base64").toString().split(":")[1]);

async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch(`${BASE}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    refused += 1;
    return null;
  }
  statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  const body = await response.json().catch(() => ({}));
  for (const e of body.errors ?? []) {
    const code = e.extensions?.code ?? "NONE";
    graphqlErrors[code] = (graphqlErrors[code] ?? 0) + 1;
  }
  return body.errors ? null : body.data;
}

const acked = new Map(); // build id → last acknowledged status
// build id → the status a mutation that got no answer would have left (it may have committed
// before the service was killed or its database cut: not acknowledged, so not a lost write).
const unanswered = new Map();
const RESULT = { startImageBuild: "RUNNING", completeImageBuild: "COMPLETED", cancelImageBuild: "CANCELLED" };
const ackedEvents = []; // event ids of acknowledged mutations
const BUILD = "id status events { id }";
function ack(build) {
  if (!build) return;
  acked.set(build.id, build.status);
  const last = build.events.at(-1);
  if (last) ackedEvents.push(rowOf(last.id));
}

const deadline = Date.now() + DURATION;
let definitions = [];

async function writer(n) {
  let i = 0;
  while (Date.now() < deadline) {
    i += 1;
    const definitionId = definitions[(n + i) % definitions.length];
    const queued = await gql(
      `mutation ($input: QueueImageBuildInput!) { queueImageBuild(input: $input) { ${BUILD} } }`,
      { input: { definitionId, outputVmid: 100000 + n * 100000 + i, idempotencyKey: `fault-${process.pid}-${n}-${i}` } },
    );
    const build = queued?.queueImageBuild;
    ack(build);
    if (!build) { await sleep(100); continue; }
    const next = i % 4 === 0 ? ["cancelImageBuild"] : ["startImageBuild", i % 3 === 0 ? "cancelImageBuild" : "completeImageBuild"];
    for (const mutation of next) {
      const done = await gql(`mutation ($id: ID!) { ${mutation}(id: $id) { ${BUILD} } }`, { id: build.id });
      if (!done) { unanswered.set(build.id, RESULT[mutation]); break; }
      ack(done[mutation]);
    }
  }
}

async function reader() {
  while (Date.now() < deadline) {
    await gql("{ imageBuilds(first: 20) { totalCount nodes { id status definition { name } } } }");
    await gql("{ imageDefinitions(first: 10) { nodes { id name latestBuild { status } } } }");
  }
}

const SUBSCRIPTION = `subscription ($after: ID) { buildStatusChanged(afterEventId: $after) { eventId status } }`;
function subscriber() {
  const state = { received: [], disorder: 0, reconnects: 0, last: null, closed: false };
  const open = () => {
    if (Date.now() > deadline + 15_000) { state.closed = true; return; }
    const socket = new WebSocket(`${BASE.replace("http", "ws")}/graphql`, "graphql-transport-ws");
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${TOKEN}` } })));
    socket.on("message", (data) => {
      const message = JSON.parse(data);
      if (message.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: SUBSCRIPTION, variables: { after: state.last } } }));
      } else if (message.type === "next" && message.payload.data) {
        const event = message.payload.data.buildStatusChanged;
        const id = rowOf(event.eventId);
        if (state.received.length && id <= state.received.at(-1)) state.disorder += 1;
        state.received.push(id);
        state.last = event.eventId;
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    });
    socket.on("error", () => {});
    socket.on("close", (code) => {
      if (state.done) return;
      closeCodes[code] = (closeCodes[code] ?? 0) + 1;
      state.reconnects += 1;
      setTimeout(open, 500 + Math.random() * 1000);
    });
    state.socket = socket;
  };
  open();
  return state;
}

const data = await gql("{ imageDefinitions(first: 50) { nodes { id enabled builderType } } }");
if (!data) throw new Error("cannot read the definitions");
definitions = data.imageDefinitions.nodes.filter((d) => d.enabled && d.builderType === "PROXMOX_CLONE").map((d) => d.id);
const settings = await gql(
  "mutation ($input: UpdatePluginSettingsInput!) { updatePluginSettings(input: $input) { imageFactoryEnabled } }",
  { input: { imageFactoryEnabled: true, imageFactoryMaxConcurrentBuilds: 1000 } },
);
if (!settings) throw new Error("cannot enable the image factory");
const subscribers = Array.from({ length: SUBSCRIBERS }, subscriber);
await sleep(5000);
const started = Date.now();
await Promise.all([...Array.from({ length: WRITERS }, (_, n) => writer(n)), ...Array.from({ length: READERS }, reader)]);
const elapsed = (Date.now() - started) / 1000;

// Let the subscribers catch up, then check.
const lastAcked = Math.max(...ackedEvents);
for (let i = 0; i < 60 && subscribers.some((s) => (s.received.at(-1) ?? 0) < lastAcked); i++) await sleep(500);
for (const s of subscribers) { s.done = true; s.socket?.terminate(); }

const ids = [...acked.keys()];
let lost = 0;
// Pages of 100: the API's largest page.
for (let i = 0; i < ids.length; i += 100) {
  const chunk = ids.slice(i, i + 100);
  const page = await gql("query ($ids: [ID!]!) { imageBuilds(filter: { id: { in: $ids } }, first: 100) { nodes { id status } } }", { ids: chunk });
  const found = new Map((page?.imageBuilds.nodes ?? []).map((b) => [b.id, b.status]));
  for (const id of chunk) {
    const status = found.get(id);
    if (status !== acked.get(id) && status !== unanswered.get(id)) lost += 1;
  }
}
let missing = 0, disorder = 0, reconnects = 0, silent = 0;
for (const s of subscribers) {
  disorder += s.disorder;
  reconnects += s.reconnects;
  if (!s.received.length) { silent += 1; continue; }
  const got = new Set(s.received);
  for (const e of ackedEvents) if (e > s.received[0] && !got.has(e)) missing += 1;
}
const fiveHundreds = Object.entries(statuses).filter(([s]) => s >= 500 && s !== "503").reduce((n, [, c]) => n + c, 0);
const requests = Object.values(statuses).reduce((n, c) => n + c, 0);
const report = {
  seconds: elapsed, requests, requestsPerSecond: Math.round(requests / elapsed), statuses, refused, graphqlErrors,
  ackedBuilds: ids.length, ackedEvents: ackedEvents.length, lostWrites: lost,
  subscribers: SUBSCRIBERS, silentSubscribers: silent, reconnects, closeCodes, eventsOutOfOrder: disorder, eventsMissing: missing,
  fiveHundredsOtherThan503: fiveHundreds,
};
report.ok = lost === 0 && disorder === 0 && missing === 0 && fiveHundreds === 0 && silent === 0 && ids.length > 0;
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
