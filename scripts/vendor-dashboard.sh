#!/usr/bin/env bash
# Re-vendor the browser libraries of the dashboard served by packer-gateway at `/`.
#
# Downloads pinned package tarballs from the npm registry (`npm pack`), refuses any tarball
# whose SHA-512 is not the pinned one (the `integrity` of npm's lockfiles), and copies the ES
# module builds the dashboard imports, byte for byte, plus each package's licence, into
# assets/dashboard/vendor/. It then writes vendor/SHA256SUMS, which a unit test of
# src/http/dashboard.rs checks against the files embedded in the binary, so that a vendored file
# edited by hand fails the build's tests. Everything else in assets/dashboard/ is ours and is
# never touched by this script.
#
# Idempotent: running it twice with the same pins yields identical files.
#
# Usage: scripts/vendor-dashboard.sh
set -euo pipefail

# --- pinned versions and the SHA-512 of their tarballs --------------------------------------
# To bump one: change the version, run `npm view <name>@<version> dist.integrity`, paste it.
PREACT_VERSION="11.2.0"
PREACT_INTEGRITY="sha512-/HfHI/7N84e6GrWBJ3J280z3mLaRJiDcSvj/A+y/4AbLnND/1UlGHe1sR6oYuTGwId0nP7dqDU9OnLxMPZ7xBg=="
HTM_VERSION="3.1.1"
HTM_INTEGRITY="sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFoNKcg5DGAvxNQ=="
GRAPHQL_WS_VERSION="6.4.2"
GRAPHQL_WS_INTEGRITY="sha512-wxhPhhOGJo8PbGDkBYVE76sZLDrS+GkyrR4bZECSLVbo0pZZNKs0HtBh2Ip/uaUuiVUxwO9ssI9R92buQfNSqQ=="
# ---------------------------------------------------------------------------------------------

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/assets/dashboard/vendor"

for tool in npm node openssl sha256sum; do
  command -v "${tool}" >/dev/null 2>&1 || { echo "error: ${tool} is required" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vendor-dashboard.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT

# fetch NAME VERSION INTEGRITY -> extracts the verified tarball into ${WORK}/NAME/package
fetch() {
  local name="$1" version="$2" integrity="$3" tgz got
  echo "fetching ${name}@${version}" >&2
  tgz="$(cd "${WORK}" && npm pack --silent "${name}@${version}" | tail -n 1)"
  got="sha512-$(openssl dgst -sha512 -binary "${WORK}/${tgz}" | openssl base64 -A)"
  if [[ "${got}" != "${integrity}" ]]; then
    echo "error: ${name}@${version}: tarball integrity ${got}, pinned ${integrity}" >&2
    exit 1
  fi
  mkdir -p "${WORK}/${name}"
  tar -xzf "${WORK}/${tgz}" -C "${WORK}/${name}"
  got="$(node -p "require(process.argv[1]).version" "${WORK}/${name}/package/package.json")"
  if [[ "${got}" != "${version}" ]]; then
    echo "error: ${name}: expected version ${version}, got ${got}" >&2
    exit 1
  fi
}

# copy SRC DEST_RELATIVE -> copies one file unchanged
copy() {
  [[ -f "$1" ]] || { echo "error: missing $1 (did the package layout change?)" >&2; exit 1; }
  mkdir -p "$(dirname "${DEST}/$2")"
  install -m 0644 "$1" "${DEST}/$2"
}

# imports FILE -> the module specifiers FILE imports or re-exports from
imports() {
  grep -oE '^(import|export)[^;]*from *["'"'"'][^"'"'"']+["'"'"']' "$1" \
    | sed -E 's/.*from *["'"'"']([^"'"'"']+)["'"'"']/\1/' | sort -u
}

fetch preact "${PREACT_VERSION}" "${PREACT_INTEGRITY}"
fetch htm "${HTM_VERSION}" "${HTM_INTEGRITY}"
fetch graphql-ws "${GRAPHQL_WS_VERSION}" "${GRAPHQL_WS_INTEGRITY}"

rm -rf "${DEST}"
mkdir -p "${DEST}"

P="${WORK}/preact/package"
copy "${P}/dist/preact.mjs" preact/preact.mjs
copy "${P}/dist/preact.mjs.map" preact/preact.mjs.map
copy "${P}/hooks/dist/hooks.mjs" preact/hooks.mjs
copy "${P}/hooks/dist/hooks.mjs.map" preact/hooks.mjs.map
copy "${P}/LICENSE" preact/LICENSE

H="${WORK}/htm/package"
copy "${H}/dist/htm.mjs" htm/htm.mjs
copy "${H}/LICENSE" htm/LICENSE

# graphql-ws's browser entry (`exports["./client"].browser`) and the one chunk it imports.
G="${WORK}/graphql-ws/package"
copy "${G}/dist/client.js" graphql-ws/client.js
copy "${G}/LICENSE.md" graphql-ws/LICENSE.md
for spec in $(imports "${G}/dist/client.js"); do
  case "${spec}" in
    ./*.js)
      copy "${G}/dist/${spec#./}" "graphql-ws/${spec#./}"
      [[ -z "$(imports "${G}/dist/${spec#./}")" ]] \
        || { echo "error: graphql-ws ${spec} imports more modules" >&2; exit 1; } ;;
    *) echo "error: graphql-ws client.js imports ${spec}" >&2; exit 1 ;;
  esac
done

# The import map of assets/dashboard/index.html resolves exactly these bare specifiers.
[[ "$(imports "${DEST}/preact/hooks.mjs")" == "preact" ]] \
  || { echo "error: preact/hooks.mjs imports $(imports "${DEST}/preact/hooks.mjs")" >&2; exit 1; }
[[ -z "$(imports "${DEST}/preact/preact.mjs")" && -z "$(imports "${DEST}/htm/htm.mjs")" ]] \
  || { echo "error: preact.mjs or htm.mjs imports other modules" >&2; exit 1; }

(cd "${DEST}" && find . -type f ! -name SHA256SUMS | sed 's#^\./##' | LC_ALL=C sort \
  | xargs sha256sum > SHA256SUMS)

echo "vendored into ${DEST}:" >&2
(cd "${DEST}" && find . -type f | LC_ALL=C sort | xargs ls -l >&2)
echo "versions: preact ${PREACT_VERSION}, htm ${HTM_VERSION}, graphql-ws ${GRAPHQL_WS_VERSION}" >&2
echo "remember: update the versions in assets/dashboard/README.md, the import map of" >&2
echo "assets/dashboard/index.html and the file list of src/http/dashboard.rs if names changed" >&2
