#!/usr/bin/env bash
# bench/seed.sh — a private PostgreSQL with issue 9's data set, for bench/run.sh and
# bench/hostile.sh: starts the server (initdb on first use) and leaves it running, migrates and
# seeds the database once (50 tenants, 10 clusters, 5 endpoints, 200 users, 1,000 definitions
# with 2,000 tenant links, 100,000 builds — in our tables, created by our migrations), and writes
# an admin token to $WORK/token. A second call finds everything in place and only starts the
# server if it is stopped. The caller stops it: bench/seed.sh stop.
#
# Env: BIN (the packer-gateway binary, required), WORK=/tmp/pgw-bench, PGBIN, PORT_PG=55432,
# PORT_OURS=18080 (the first start, which migrates and prints the bootstrap token).
# Needs PostgreSQL 15 server binaries with pg_stat_statements, and root (initdb runs as postgres).
set -euo pipefail
WORK=${WORK:-/tmp/pgw-bench}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT_PG=${PORT_PG:-55432}; PORT_OURS=${PORT_OURS:-18080}
export PGHOST=127.0.0.1 PGPORT=$PORT_PG PGUSER=postgres PGDATABASE=packer
DBURL="postgres://postgres@127.0.0.1:$PORT_PG/packer"
mkdir -p "$WORK/pg"

say() { printf '\n== %s\n' "$*" >&2; }
runpg() { su postgres -s /bin/bash -c "cd /tmp && $1"; }
wait_http() { for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer at $1" >&2; return 1; }

pg_stop() {
  [ -f "$WORK/pg/data/postmaster.pid" ] && runpg "$PGBIN/pg_ctl -D $WORK/pg/data -m fast -w stop" >/dev/null 2>&1 || true
}

pg_start() {
  if [ -f "$WORK/pg/data/postmaster.pid" ] && kill -0 "$(head -1 "$WORK/pg/data/postmaster.pid")" 2>/dev/null; then return; fi
  if [ ! -d "$WORK/pg/data" ]; then
    chown postgres "$WORK/pg"; chmod 700 "$WORK/pg"
    runpg "$PGBIN/initdb -D $WORK/pg/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
  fi
  runpg "$PGBIN/pg_ctl -D $WORK/pg/data -l $WORK/pg/server.log -w start -o \"-c listen_addresses=127.0.0.1 -c port=$PORT_PG -c unix_socket_directories=/tmp -c shared_buffers=256MB -c max_connections=200 -c shared_preload_libraries=pg_stat_statements\"" >/dev/null
}

seed() {
  [ -x "${BIN:-}" ] || { echo "bench/seed.sh: BIN must name the packer-gateway binary" >&2; exit 1; }
  pg_start
  psql -d postgres -tAc "select 1 from pg_database where datname='packer'" | grep -q 1 || psql -d postgres -qc "create database packer"
  if ! psql -tAc "select count(*) from image_definition" 2>/dev/null | grep -qx 1000; then
    say "migrating and seeding (100,000 builds)"
    "$BIN" serve --listen "127.0.0.1:$PORT_OURS" --database-url "$DBURL" > "$WORK/first-start.log" 2>&1 & p=$!
    wait_http "http://127.0.0.1:$PORT_OURS/healthz"; kill "$p"; wait "$p" || true
    t=$(grep -o 'pgw_[A-Za-z0-9_-]*' "$WORK/first-start.log" | head -1 || true); [ -n "$t" ] && echo "$t" > "$WORK/token"
    psql -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO tenant(name, slug, description, created, last_updated) SELECT 'Tenant '||g, 'tenant-'||g, '', now(), now() FROM generate_series(1,50) g;
INSERT INTO cluster(name, cluster_type, tenant_id, description, created, last_updated) SELECT 'cluster-'||g, 'proxmox', NULL, '', now(), now() FROM generate_series(1,10) g;
INSERT INTO proxmox_endpoint(name, domain, ip_address, port, mode, verify_ssl, allow_writes, enabled, tenant_id, created, last_updated)
  SELECT 'pve-'||g, 'pve-'||g||'.example.invalid', NULL, 8006, 'cluster', true, true, true, NULL, now(), now() FROM generate_series(1,5) g;
INSERT INTO "user"(username, first_name, last_name, email, is_active, role, created, last_updated)
  SELECT 'user'||g, '', '', 'user'||g||'@example.invalid', true, 'operator', now(), now() FROM generate_series(1,200) g;
INSERT INTO image_definition(name, slug, description, enabled, builder_type, proxmox_endpoint_id, target_cluster_id, target_node,
  source_template_vmid, iso_url, iso_checksum, iso_storage, default_storage, default_bridge, os_family, os_release, default_ciuser,
  provisioner_recipe, default_variables, created, last_updated)
  SELECT 'image-def-'||lpad(g::text,4,'0'), 'image-def-'||lpad(g::text,4,'0'), 'Packer definition number '||g, true, 'proxmox-clone',
    1 + g % 5, 1 + g % 10, 'pve1', 9000, NULL, '', '', 'local-lvm', 'vmbr0',
    (ARRAY['ubuntu','debian','rocky','almalinux'])[1 + g % 4], '24.04', 'ubuntu', 'ubuntu-base', '{}'::jsonb,
    now() - (g||' hours')::interval, now() - (g||' minutes')::interval FROM generate_series(1,1000) g;
INSERT INTO image_definition_tenant(definition_id, tenant_id)
  SELECT d, 1 + ((d*7 + k*13) % 50) FROM generate_series(1,1000) d, generate_series(0,2) k WHERE k < 1 + d % 3;
INSERT INTO image_build(definition_id, status, backend_build_id, proxmox_endpoint_id, target_node, output_vmid, output_name,
  image_version, variables, timeout_seconds, started_at, completed_at, created_by_id, netbox_job_id, cloud_image_template_id,
  backend_response, error, rebuild_of_id, created, last_updated)
  SELECT 1 + (g*7919) % 1000, (ARRAY['pending','running','completed','completed','completed','failed'])[1 + g % 6], '',
    1 + ((1 + (g*7919) % 1000) % 5), 'pve1', 9000 + g % 1000, 'image-'||g, '2026.11.'||(g % 28), '{}'::jsonb, NULL,
    now() - ((100001-g)||' minutes')::interval, now() - ((100001-g)||' minutes')::interval + interval '17 minutes',
    1 + (g*31) % 200, NULL, NULL, '{}'::jsonb, '', NULL,
    now() - ((100001-g)||' minutes')::interval, now() FROM generate_series(1,100000) g;
ANALYZE;
SQL
  fi
  if [ ! -s "$WORK/token" ]; then
    "$BIN" token create --user admin --database-url "$DBURL" 2>&1 | grep -o 'pgw_[A-Za-z0-9_-]*' | head -1 > "$WORK/token"
  fi
  psql -qc "create extension if not exists pg_stat_statements"
  # Builds a run queued (the fan-out's, issue 14's) go, so that every run reads the same data
  # set: otherwise the newest builds, which the list reads, become the fan-out's (one
  # definition, one creator) after a run or two, and the list gets cheaper from run to run.
  psql -qc "DELETE FROM build_event WHERE build_id > 100000; DELETE FROM image_build WHERE id > 100000"
}

case "${1:-seed}" in
  seed) seed ;;
  stop) pg_stop ;;
  *) echo "usage: bench/seed.sh [seed|stop]" >&2; exit 1 ;;
esac
