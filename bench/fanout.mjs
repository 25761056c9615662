// fanout.mjs WS_URL HTTP_URL TOKEN N EVENTS [DEFINITION_ID]   (run by bench/run.sh)
// N graphql-transport-ws sockets each subscribe to buildStatusChanged with a nested payload; then
// EVENTS builds are queued one after another over HTTP. For each event: when the mutation was
// acknowledged, when the median and the last subscriber got it. Prints JSON.
// Environment: SQL_RESET / SQL_COUNT (shell commands: reset and read the statement counter),
// RSS_PID (the server's pid: its RSS is read while every socket is still open, its CPU time
// around the events, as bench/fanout.rs does; this client's own from process.cpuUsage).
// Adapted from ../shared/bench/fanout.mjs (the reference harness of issue 9).
import WebSocket from 'ws';
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
const [wsUrl, httpUrl, token, nStr, evStr, defId = '1'] = process.argv.slice(2);
const N = +nStr, EV = +evStr;
const SUB = 'subscription { buildStatusChanged { eventId status build { id outputName definition { name allowedTenants { slug } } createdBy { username } } } }';
const arrivals = new Map(); // outputVmid -> [t...]
let ready = 0, failed = 0;
const socks = [];
function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, 'graphql-transport-ws');
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer ' + token } })));
    ws.on('message', (m) => {
      const msg = JSON.parse(m.toString());
      if (msg.type === 'connection_ack') { ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUB } })); ready++; resolve(); }
      else if (msg.type === 'next') {
        const b = msg.payload?.data?.buildStatusChanged?.build; if (!b) return;
        const t = performance.now(); const k = b.outputName;
        if (!arrivals.has(k)) arrivals.set(k, []); arrivals.get(k).push(t);
      } else if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
      else if (msg.type === 'error') { failed++; }
    });
    ws.on('error', () => { failed++; resolve(); });
    ws.on('close', () => {});
    socks.push(ws);
  });
}
const t0 = performance.now();
for (let i = 0; i < N; i += 200) await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, j) => open(i + j)));
const connectMs = performance.now() - t0;
await new Promise(r => setTimeout(r, 1500));
async function gql(query, variables) {
  const r = await fetch(httpUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ query, variables }) });
  return r.json();
}
await gql('mutation { updatePluginSettings(input: {imageFactoryEnabled: true, imageFactoryMaxConcurrentBuilds: 100}) { imageFactoryEnabled } }');
if (process.env.SQL_RESET) execSync(process.env.SQL_RESET);
const tick = +(execSync('getconf CLK_TCK').toString().trim() || 100);
const serverCpuMs = () => {
  if (!process.env.RSS_PID) return null;
  const f = readFileSync(`/proc/${process.env.RSS_PID}/stat`, 'utf8').split(')').pop().trim().split(/\s+/);
  return (+f[11] + +f[12]) * 1000 / tick;
};
const clientCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const serverBefore = serverCpuMs(), clientBefore = clientCpuMs();
const results = [];
const base = 50000 + Math.floor(Math.random() * 10000) * 10;
for (let e = 0; e < EV; e++) {
  const vmid = base + e;
  const name = 'fanout-' + vmid;
  const ts = performance.now();
  const r = await gql('mutation($i: QueueImageBuildInput!) { queueImageBuild(input: $i) { id } }', { i: { definitionId: defId, outputVmid: vmid, outputName: name } });
  const tAck = performance.now();
  if (r.errors) { console.error(JSON.stringify(r.errors)); process.exit(1); }
  const deadline = performance.now() + 10000;
  while ((arrivals.get(name)?.length ?? 0) < ready && performance.now() < deadline) await new Promise(r => setTimeout(r, 5));
  const a = (arrivals.get(name) ?? []).sort((x, y) => x - y);
  results.push({ got: a.length, ack_ms: tAck - ts, p50_ms: a.length ? a[Math.floor(a.length / 2)] - ts : null, last_ms: a.length ? a[a.length - 1] - ts : null });
  await new Promise(r => setTimeout(r, 100));
}
const serverCpu = serverBefore == null ? null : +((serverCpuMs() - serverBefore) / EV).toFixed(1);
const clientCpu = +((clientCpuMs() - clientBefore) / EV).toFixed(1);
const sql = process.env.SQL_COUNT ? +execSync(process.env.SQL_COUNT).toString().trim() : null;
let rssKb = null;
if (process.env.RSS_PID) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${process.env.RSS_PID}/status`, 'utf8'));
  rssKb = m ? +m[1] : null;
}
const med = (xs) => { const s = xs.filter(x => x != null).sort((a, b) => a - b); return s.length ? +s[Math.floor(s.length / 2)].toFixed(1) : null; };
console.log(JSON.stringify({ subscribers: ready, failed, connect_ms: +connectMs.toFixed(0), events: EV,
  delivered_all: results.every(r => r.got === ready), ack_ms_p50: med(results.map(r => r.ack_ms)),
  sub_p50_ms: med(results.map(r => r.p50_ms)), last_ms_p50: med(results.map(r => r.last_ms)), sql_per_event: sql == null ? null : +(sql / EV).toFixed(1), last_ms_max: +Math.max(...results.map(r => r.last_ms ?? 0)).toFixed(1), rss_mb: rssKb == null ? null : +(rssKb / 1024).toFixed(0),
  server_cpu_ms_per_event: serverCpu, client_cpu_ms_per_event: clientCpu }));
for (const s of socks) s.terminate();
process.exit(0);
