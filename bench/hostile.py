#!/usr/bin/env python3
"""Reproduces each case of issue 14 (hostile and overload traffic) in short runs against a
packer-gateway binary and prints each figure next to its limit.

Figures measured on a loaded or small machine are noisy, and a debug build is several times
slower than a release build: read them as orders of magnitude and ratios, not as a benchmark.

Environment: BIN (the binary, default target/release/packer-gateway), DATABASE_URL (default a
fresh SQLite file; bench/hostile.sh gives issue 9's PostgreSQL data set, see bench/seed.sh),
TOKEN (an admin token of that database; without, the database must be empty and the first start
prints one), OVERLOAD (the overload client, bench/overload.rs built as an example), CONNECTIONS
(1000) and SECONDS (20) of the overload, HONOR_RETRY_AFTER=1 (a refused client waits 1 s; by
default it asks again at once), SOCKETS (5000) for the memory per websocket, SCALE (1: the other
cases' short sizes), SERVER_ARGS (more flags for every server start), PORT (default 18080), CASES (a comma-separated subset of
slow,overload,ws,rate).
"""

import asyncio
import base64
import json
import os
import re
import resource
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ.get("BIN", "target/release/packer-gateway")
PORT = int(os.environ.get("PORT", "18080"))
CASES = set(os.environ.get("CASES", "slow,overload,ws,rate").split(","))
SCALE = float(os.environ.get("SCALE", "1"))
TOKEN = os.environ.get("TOKEN")
OVERLOAD = os.environ.get("OVERLOAD", "target/release/examples/overload")
CONNECTIONS = int(os.environ.get("CONNECTIONS", "1000"))
SECONDS = float(os.environ.get("SECONDS", "20"))
SOCKETS = int(os.environ.get("SOCKETS", "5000"))
SERVER_ARGS = os.environ.get("SERVER_ARGS", "").split()
HOST = "127.0.0.1"
LIST = ("{ imageBuilds(first: 40) { nodes { id status definition { name allowedTenants { slug } "
        "targetCluster { name } } proxmoxEndpoint { name } createdBy { username } "
        "events { toStatus at } } } }")
SUBSCRIPTION = "subscription { buildStatusChanged { eventId status } }"
# The same with a filter of its own per socket: no two sockets ask the same, so none shares an
# execution (see the README's Subscriptions section).
OWN_SUBSCRIPTION = ("subscription($b: ID) { buildStatusChanged(filter: {buildId: $b}) "
                    "{ eventId status } }")

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def row(case, figure, limit, ok):
    print(f"  {case:<44} {figure:>22}   limit {limit:<18} {'ok' if ok else 'OVER'}")


class Server:
    def __init__(self, url, extra=()):
        self.url, self.extra = url, list(extra)

    def __enter__(self):
        self.log = tempfile.TemporaryFile()
        args = [BIN, "--database-url", self.url, "--listen", f"{HOST}:{PORT}",
                *([] if TOKEN else ["--demo"]), *self.extra, *SERVER_ARGS]
        self.process = subprocess.Popen(args, stderr=self.log, stdout=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://{HOST}:{PORT}/healthz", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the server did not start")

    def __exit__(self, *_):
        self.process.terminate()
        self.process.wait(30)

    def rss_kb(self, field="VmRSS"):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0


def admin_token(log_path_holder):
    log_path_holder.log.seek(0)
    found = re.search(rb"pgw_[A-Za-z0-9_\-]+", log_path_holder.log.read())
    return found.group(0).decode() if found else None


# -- HTTP ----------------------------------------------------------------------------------------

async def post(reader, writer, token, body):
    writer.write((f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
                 + body)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split()[1])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    answer = await reader.readexactly(length)
    if status == 200 and b'"errors"' in answer:
        raise SystemExit(f"the bench's query failed: {answer[:300]!r}")
    return status


def overload(server, token):
    """The Rust client's figures (bench/overload.rs): counts and latencies by status, client
    timeouts, the server's RSS high-water."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
        body.write(json.dumps({"query": LIST}))
    out = subprocess.run([OVERLOAD, f"{HOST}:{PORT}", token, str(CONNECTIONS), str(SECONDS),
                          body.name, str(server.process.pid)],
                         capture_output=True, text=True)
    os.unlink(body.name)
    if out.returncode != 0:
        raise SystemExit(f"the overload client failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


# -- Slow headers --------------------------------------------------------------------------------

async def slow_headers(count, seconds):
    sockets = []
    for _ in range(count):
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            sockets.append((reader, writer))
        except OSError:
            break
    served = 0
    stop = time.time() + seconds
    while time.time() < stop:
        for _, writer in sockets:
            try:
                writer.write(b"X-Slow: 1\r\n")
            except (OSError, RuntimeError):
                pass
        try:
            urllib_ok = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://{HOST}:{PORT}/healthz", timeout=5).read())
            served += urllib_ok == b"ok"
        except OSError:
            pass
        await asyncio.sleep(1)
    still_open = 0
    for reader, writer in sockets:
        try:
            data = await asyncio.wait_for(reader.read(1), 0.05)
            still_open += data != b""
        except asyncio.TimeoutError:
            still_open += 1
        except OSError:
            pass
        writer.close()
    return len(sockets), still_open, served


# -- WebSocket -----------------------------------------------------------------------------------

def frame(payload, opcode=1, announce=None):
    mask = os.urandom(4)
    n = len(payload) if announce is None else announce
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_frame(reader):
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return first & 0x0F, await reader.readexactly(n)


async def ws_open(token):
    reader, writer = await asyncio.open_connection(HOST, PORT)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws"
                  f"\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise OSError(head.split(b"\r\n")[0].decode())
    writer.write(frame(json.dumps({"type": "connection_init",
                                   "payload": {"authorization": f"Bearer {token}"}}).encode()))
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == 1 and json.loads(payload)["type"] == "connection_ack":
            return reader, writer


async def ws_messages(reader):
    """JSON messages until the socket closes; then ("close", code)."""
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == 8:
            yield {"type": "close", "code": struct.unpack("!H", payload[:2])[0] if payload else 1005}
            return
        if opcode == 1:
            yield json.loads(payload)


async def big_frame(server, token):
    reader, writer = await ws_open(token)
    before = server.rss_kb()
    writer.write(frame(b"x" * 65536, announce=16 << 20))
    code = None
    try:
        async for message in ws_messages(reader):
            if message["type"] == "close":
                code = message["code"]
                break
    except (OSError, asyncio.IncompleteReadError):
        pass
    writer.close()
    return code, server.rss_kb() - before


async def per_socket(server, token, count, own=False):
    held = []
    for _ in range(20):
        held.append(await ws_open(token))
    await asyncio.sleep(1)
    before = server.rss_kb()
    for n in range(count):
        reader, writer = await ws_open(token)
        payload = {"query": SUBSCRIPTION}
        if own:
            payload = {"query": OWN_SUBSCRIPTION, "variables": {"b": str(1_000_000 + n)}}
        writer.write(frame(json.dumps({"type": "subscribe", "id": "s",
                                       "payload": payload}).encode()))
        held.append((reader, writer))
    await asyncio.sleep(2)
    after = server.rss_kb()
    for _, writer in held:
        writer.close()
    return (after - before) / count


async def flood(token, count):
    reader, writer = await ws_open(token)
    started = time.perf_counter()
    writer.write(b"".join(
        frame(json.dumps({"type": "subscribe", "id": str(n),
                          "payload": {"query": "{ imageBuilds(first: 1) { totalCount } }"}})
              .encode())
        for n in range(count)))
    executed = limited = other = ended = 0
    async for message in ws_messages(reader):
        if message["type"] == "complete":
            executed += 1
            ended += 1
        elif message["type"] == "error":
            if message["payload"][0]["extensions"]["code"] == "RATE_LIMITED":
                limited += 1
            else:  # e.g. over the operations a socket may have running at once
                other += 1
            ended += 1
        if ended >= count or message["type"] == "close":
            break
    writer.close()
    return executed, limited, other, time.perf_counter() - started


async def token_flood(token, seconds):
    body = json.dumps({"query": "{ imageBuilds(first: 1) { totalCount } }"}).encode()
    counts = {}
    stop = time.time() + seconds

    async def client():
        reader, writer = await asyncio.open_connection(HOST, PORT)
        while time.time() < stop:
            status = await post(reader, writer, token, body)
            counts[status] = counts.get(status, 0) + 1
        writer.close()

    await asyncio.gather(*(client() for _ in range(10)))
    return counts


# -- Main ----------------------------------------------------------------------------------------

def main():
    url = os.environ.get("DATABASE_URL") or f"sqlite://{tempfile.mkdtemp()}/bench.db"
    print(f"packer-gateway hostile bench: {BIN}, {url.split('?')[0]}, SCALE={SCALE}")
    print("  (noisy figures on a shared machine; compare with the limits, not across runs)")
    token = TOKEN
    if not token:
        with Server(url, ["--ws-max-sockets-per-principal", "100000"]) as server:
            token = admin_token(server)
        if not token:
            raise SystemExit("no admin token printed: give an empty database, or TOKEN")
    with Server(url, ["--ws-max-sockets-per-principal", "100000"]) as server:
        run_cases(server, token)
    if "rate" not in CASES:
        return
    with Server(url, ["--rate-limit", "admin=20/40"]) as server:
        print("one token, --rate-limit admin=20/40")
        counts = asyncio.run(token_flood(token, 5))
        allowed = counts.get(200, 0)
        row("requests allowed in 5 s", allowed, "<= 40 + 5 x 20", allowed <= 140 + 5)
        row("refused 429", counts.get(429, 0), "the rest", set(counts) <= {200, 429})


def run_cases(server, token):
    if "slow" in CASES:
        print("slow headers (header read timeout 10 s)")
        count, still_open, served = asyncio.run(slow_headers(int(200 * SCALE), 13))
        row(f"{count} slow-header sockets still open after 13 s", still_open, "0", still_open == 0)
        row("normal requests served meanwhile", served, "every one (13)", served >= 12)
    if "overload" in CASES:
        polite = os.environ.get("HONOR_RETRY_AFTER") == "1"
        print(f"overload: {CONNECTIONS} connections for {SECONDS:.0f} s, issue 14's list "
              "(40 builds with definition, tenants, endpoint, cluster, creator, events); a "
              + ("refused client waits Retry-After" if polite else "refused client asks again at once"))
        rss_before = server.rss_kb()
        r = overload(server, token)
        ok, no = r["admitted"], r["refused"]
        row(f"admitted 200: {ok['count']}, p50 / p99 (ms)", f"{ok['p50_ms']} / {ok['p99_ms']}",
            "p99 <= 500", ok["p99_ms"] is not None and ok["p99_ms"] <= 500)
        row(f"refused 503: {no['count']}, p50 / p99 (ms)", f"{no['p50_ms']} / {no['p99_ms']}",
            "p99 <= 50", no["p99_ms"] is None or no["p99_ms"] <= 50)
        other = r["other"]["count"]
        row("other answers (neither 200 nor 503)", other, "0", other == 0)
        row("client timeouts (no answer in 30 s)", r["timeouts"], "0", r["timeouts"] == 0)
        row("connection errors (refused, reset)", r["errors"], "0", r["errors"] == 0)
        answers = ok['count'] + no['count'] + other
        row("answers / s", f"{answers / SECONDS:.0f}", "-", True)
        row("CPU s of the server / of the client",
            f"{r['server_cpu_s']} / {r['client_cpu_s']}", "-", True)
        row("server CPU per answer (us)", f"{1e6 * r['server_cpu_s'] / max(answers, 1):.1f}",
            "-", True)
        peak = max(r["rss_peak_kb"] or 0, server.rss_kb("VmHWM"))
        row("RSS before / high-water (MB)", f"{rss_before // 1024} / {peak // 1024}", "<= 250",
            peak <= 250 * 1024)
        time.sleep(30)
        after = server.rss_kb()
        row("RSS 30 s after the load (MB)", after // 1024, "< 100", after < 100 * 1024)
        whole = server.rss_kb("VmHWM")
        row("RSS high-water, load and the 30 s after (MB)", whole // 1024, "<= 250",
            whole <= 250 * 1024)
    if "ws" in CASES:
        print("websockets")
        code, grown = asyncio.run(big_frame(server, token))
        row("16 MiB frame: close code", code, "1009", code == 1009)
        row("16 MiB frame: RSS growth (MB)", f"{grown / 1024:.1f}", "< 1", grown < 1024)
        per = asyncio.run(per_socket(server, token, SOCKETS))
        row(f"per socket with one subscription, {SOCKETS} sockets (KB)", f"{per:.1f}", "<= 20",
            per <= 20)
        per = asyncio.run(per_socket(server, token, SOCKETS, own=True))
        row(f"  each subscription its own (not shared), {SOCKETS} sockets (KB)", f"{per:.1f}",
            "<= 20", per <= 20)
        executed, limited, other, took = asyncio.run(flood(token, int(2000 * SCALE)))
        row(f"{int(2000 * SCALE)} operations at once: executed", executed,
            f"51 + 20/s ({took:.1f} s)", executed <= 51 + 20 * (took + 1))
        row("  refused RATE_LIMITED", limited, "the rest",
            executed + limited + other == int(2000 * SCALE))
        row("  refused otherwise (operations running at once)", other, "-", True)


if __name__ == "__main__":
    sys.exit(main())
