#!/usr/bin/env bash
# Re-vendor the GraphiQL UI assets served by packer-gateway at /graphiql.
#
# Downloads pinned package tarballs from the npm registry (`npm pack`), and
# copies only the minified browser builds plus each package's license into
# assets/graphiql/. No node_modules, no source maps. assets/graphiql/index.html
# and README.md are ours and are never touched by this script.
#
# Idempotent: running it twice with the same pins yields identical files.
#
# Usage: scripts/vendor-graphiql.sh
set -euo pipefail

# --- pinned versions ---------------------------------------------------------
# React 18 still ships UMD builds (React 19 dropped them).
REACT_VERSION="18.3.1"
REACT_DOM_VERSION="18.3.1"
# Newest graphiql 3.x; ships the minified UMD build as graphiql.min.js
# (a copy of dist/index.umd.js) and graphiql.min.css (a copy of dist/style.css).
GRAPHIQL_VERSION="3.9.0"
# Newest graphql-ws; ships umd/graphql-ws.min.js (global `graphqlWs`).
GRAPHQL_WS_VERSION="6.4.2"
# -----------------------------------------------------------------------------

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ROOT}/assets/graphiql"

command -v npm >/dev/null 2>&1 || { echo "error: npm is required" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vendor-graphiql.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT

# fetch NAME VERSION -> extracts the tarball into ${WORK}/NAME/package
fetch() {
  local name="$1" version="$2" tgz
  echo "fetching ${name}@${version}" >&2
  tgz="$(cd "${WORK}" && npm pack --silent "${name}@${version}" | tail -n 1)"
  mkdir -p "${WORK}/${name}"
  tar -xzf "${WORK}/${tgz}" -C "${WORK}/${name}"
  local got
  got="$(node -p "require(process.argv[1]).version" "${WORK}/${name}/package/package.json")"
  if [[ "${got}" != "${version}" ]]; then
    echo "error: ${name}: expected version ${version}, got ${got}" >&2
    exit 1
  fi
}

# need FILE -> fail loudly if a file we expect in a tarball is missing
need() {
  [[ -f "$1" ]] || { echo "error: missing $1 (did the package layout change?)" >&2; exit 1; }
}

# copy_js SRC NAME -> copy a JS file, dropping the trailing sourceMappingURL
# comment (we do not ship source maps, so it would only produce 404s).
copy_js() {
  need "$1"
  sed -e '/^\/\/[#@] sourceMappingURL=/d' "$1" > "${DEST}/$2.tmp"
  mv -f "${DEST}/$2.tmp" "${DEST}/$2"
}

# copy_css SRC NAME -> copy a CSS file, stripping any @import of a remote URL
# (e.g. Google Fonts) and source map comments; then refuse to continue if any
# url() other than an inline data: URI is left.
copy_css() {
  need "$1"
  sed -E \
    -e 's#@import[[:space:]]+url\([^)]*https?://[^)]*\)[^;]*;##g' \
    -e 's#@import[[:space:]]+["'"'"'][^"'"'"']*https?://[^"'"'"']*["'"'"'][^;]*;##g' \
    -e 's#/\*[#@] sourceMappingURL=[^*]*\*/##g' \
    "$1" > "${DEST}/$2.tmp"
  if grep -oE 'url\([[:space:]]*["'"'"']?[^"'"'"' )]{0,8}' "${DEST}/$2.tmp" | grep -vE 'url\([[:space:]]*["'"'"']?data:' >/dev/null; then
    echo "error: $2 still references non-inline url() resources:" >&2
    grep -oE 'url\([[:space:]]*["'"'"']?[^)]{0,80}' "${DEST}/$2.tmp" | grep -vE 'url\([[:space:]]*["'"'"']?data:' >&2 || true
    rm -f "${DEST}/$2.tmp"
    exit 1
  fi
  mv -f "${DEST}/$2.tmp" "${DEST}/$2"
}

copy_plain() {
  need "$1"
  install -m 0644 "$1" "${DEST}/$2"
}

fetch react "${REACT_VERSION}"
fetch react-dom "${REACT_DOM_VERSION}"
fetch graphiql "${GRAPHIQL_VERSION}"
fetch graphql-ws "${GRAPHQL_WS_VERSION}"

mkdir -p "${DEST}"

copy_js "${WORK}/react/package/umd/react.production.min.js" react.production.min.js
copy_js "${WORK}/react-dom/package/umd/react-dom.production.min.js" react-dom.production.min.js
copy_js "${WORK}/graphiql/package/graphiql.min.js" graphiql.min.js
copy_css "${WORK}/graphiql/package/graphiql.min.css" graphiql.min.css
copy_js "${WORK}/graphql-ws/package/umd/graphql-ws.min.js" graphql-ws.min.js

copy_plain "${WORK}/react/package/LICENSE" LICENSE.react
copy_plain "${WORK}/react-dom/package/LICENSE" LICENSE.react-dom
copy_plain "${WORK}/graphiql/package/LICENSE" LICENSE.graphiql
copy_plain "${WORK}/graphql-ws/package/LICENSE.md" LICENSE.graphql-ws

chmod 0644 "${DEST}"/*.js "${DEST}"/*.css

# Sanity checks: the UMD bundles must expose the globals index.html uses.
grep -q '\.GraphiQL=' "${DEST}/graphiql.min.js" \
  || { echo "error: graphiql.min.js does not look like the UMD build (no GraphiQL global)" >&2; exit 1; }
grep -q 'createFetcher' "${DEST}/graphiql.min.js" \
  || { echo "error: graphiql.min.js does not expose createFetcher" >&2; exit 1; }
grep -q '\.graphqlWs=' "${DEST}/graphql-ws.min.js" \
  || { echo "error: graphql-ws.min.js does not expose the graphqlWs global" >&2; exit 1; }

echo "vendored into ${DEST}:" >&2
(cd "${DEST}" && ls -l react.production.min.js react-dom.production.min.js \
  graphiql.min.js graphiql.min.css graphql-ws.min.js LICENSE.* >&2)
echo "versions: react ${REACT_VERSION}, react-dom ${REACT_DOM_VERSION}, graphiql ${GRAPHIQL_VERSION}, graphql-ws ${GRAPHQL_WS_VERSION}" >&2
echo "remember to update the pinned versions in assets/graphiql/README.md if you changed them" >&2
