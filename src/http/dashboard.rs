//! The dashboard (SPEC §8), served from the binary: `GET /` is its page and
//! `GET /dashboard/{version}/{*path}` its files, all embedded at compile time from
//! `assets/dashboard/` (see its README), so it works with no network beyond this service.
//!
//! The files are ES modules (Preact, htm and graphql-ws vendored from npm; no build step). Their
//! URL carries a version computed from their bytes, so they are cached for a year (`immutable`)
//! and a new binary is picked up at once; the page itself is `no-cache`. Every URL in the page
//! is relative, so it also works under a reverse proxy's path prefix. The Content-Security-Policy
//! allows scripts from this origin and the one inline import map (by its hash), styles from this
//! origin, and connections (HTTP and the websocket) to this origin only.
//!
//! The dashboard talks to the service only through the public GraphQL API, like any other client:
//! this module knows nothing of the schema, the database or the principal.

use std::sync::LazyLock;

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

/// `(path under assets/dashboard/, bytes)` of every file the page may load.
macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../assets/dashboard/", $path)) as &[u8])),*]
    };
}

const ASSETS: &[(&str, &[u8])] = assets![
    "app.css",
    "icon.svg",
    "js/api.js",
    "js/components.js",
    "js/format.js",
    "js/html.js",
    "js/live.js",
    "js/main.js",
    "js/queries.js",
    "js/router.js",
    "js/store.js",
    "js/views/actions.js",
    "js/views/build.js",
    "js/views/builds.js",
    "js/views/definition.js",
    "js/views/definitions.js",
    "js/views/panels.js",
    "js/views/settings.js",
    "js/views/signin.js",
    "vendor/graphql-ws/LICENSE.md",
    "vendor/graphql-ws/client.js",
    "vendor/graphql-ws/common-CGW11Fyb.js",
    "vendor/htm/LICENSE",
    "vendor/htm/htm.mjs",
    "vendor/preact/LICENSE",
    "vendor/preact/hooks.mjs",
    "vendor/preact/hooks.mjs.map",
    "vendor/preact/preact.mjs",
    "vendor/preact/preact.mjs.map",
];

/// The page, with `{{assets}}` standing for the versioned folder of the files.
const TEMPLATE: &str = include_str!("../../assets/dashboard/index.html");

/// The routes of the dashboard; they hold no state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/dashboard/{version}/{*path}", get(asset))
}

/// `GET /`.
async fn page() -> Response {
    let page = &*PAGE;
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, page.policy.clone()),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        page.html.clone(),
    )
        .into_response()
}

/// `GET /dashboard/{version}/{*path}`: a file of this version, or 404.
async fn asset(Path((version, path)): Path<(String, String)>) -> Response {
    if version != PAGE.version {
        return StatusCode::NOT_FOUND.into_response();
    }
    match ASSETS.iter().find(|(name, _)| *name == path) {
        Some((name, bytes)) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(name)),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The media type of a file, by its name (module scripts must be served as JavaScript).
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("map") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// The page as served, computed once.
struct Page {
    /// The version in the files' URLs: a digest of every file and of the page.
    version: String,
    html: String,
    policy: HeaderValue,
}

static PAGE: LazyLock<Page> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    for (path, bytes) in ASSETS {
        digest.update((path.len() as u64).to_le_bytes());
        digest.update(path.as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    }
    digest.update(TEMPLATE.as_bytes());
    let version = hex::encode(&digest.finalize()[..8]);
    let html = TEMPLATE.replace("{{assets}}", &format!("dashboard/{version}"));
    let policy = HeaderValue::from_str(&policy(&html))
        .expect("the policy is made of visible ASCII characters");
    Page {
        version,
        html,
        policy,
    }
});

/// The text of the page's inline import map.
fn import_map(html: &str) -> &str {
    const OPEN: &str = r#"<script type="importmap">"#;
    let start = html.find(OPEN).expect("the page has an import map") + OPEN.len();
    let length = html[start..]
        .find("</script>")
        .expect("the import map is closed");
    &html[start..start + length]
}

/// The Content-Security-Policy of the page: this origin only, and the import map by its hash.
fn policy(html: &str) -> String {
    let hash = STANDARD.encode(Sha256::digest(import_map(html).as_bytes()));
    format!(
        "default-src 'none'; script-src 'self' 'sha256-{hash}'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, path::Path};

    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dashboard")
    }

    fn files(dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read assets/dashboard") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                files(&path, found);
            } else {
                let relative = path.strip_prefix(root()).expect("under the root");
                found.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    /// A file added to `assets/dashboard/` and forgotten in `ASSETS` would be a 404 in the
    /// browser; one removed would not compile.
    #[test]
    fn every_file_of_the_folder_is_served() {
        let mut found = BTreeSet::new();
        files(&root(), &mut found);
        for ours in ["index.html", "README.md", "vendor/SHA256SUMS"] {
            found.remove(ours);
        }
        let served: BTreeSet<String> = ASSETS.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(found, served);
    }

    /// The vendored files are the npm packages' bytes, as `scripts/vendor-dashboard.sh` wrote
    /// them (it checks each tarball's pinned SHA-512): a vendored file edited by hand fails here.
    #[test]
    fn vendored_files_match_their_checksums() {
        let sums = include_str!("../../assets/dashboard/vendor/SHA256SUMS");
        let mut checked = 0;
        for line in sums.lines() {
            let (sum, name) = line.split_once("  ").expect("`<sha256>  <file>`");
            let path = format!("vendor/{name}");
            let bytes = ASSETS
                .iter()
                .find(|(p, _)| *p == path)
                .unwrap_or_else(|| panic!("{path} is vendored but not served"))
                .1;
            let actual = hex::encode(Sha256::digest(bytes));
            assert_eq!(actual, sum, "{path} differs from what was vendored");
            checked += 1;
        }
        let vendored = ASSETS
            .iter()
            .filter(|(p, _)| p.starts_with("vendor/"))
            .count();
        assert_eq!(checked, vendored, "every vendored file has a checksum");
    }

    /// Every module a module imports is served: a relative path resolves to a file of
    /// `ASSETS`, a bare name to an entry of the import map.
    #[test]
    fn every_import_resolves() {
        let import =
            regex::Regex::new(r#"(?m)^\s*(?:import|export)\b[^;'"]*?from\s*['"]([^'"]+)['"]"#)
                .expect("a regex");
        let html = &PAGE.html;
        let map: serde_json::Value =
            serde_json::from_str(import_map(html)).expect("the import map is JSON");
        let mut checked = 0;
        for (path, bytes) in ASSETS
            .iter()
            .filter(|(p, _)| p.ends_with(".js") || p.ends_with(".mjs"))
        {
            let text = std::str::from_utf8(bytes).expect("UTF-8");
            for spec in import.captures_iter(text).map(|c| c[1].to_owned()) {
                checked += 1;
                if spec.starts_with('.') {
                    let base = Path::new(path).parent().expect("a folder");
                    let mut resolved = Vec::new();
                    for part in base.join(&spec).components() {
                        match part {
                            std::path::Component::ParentDir => {
                                resolved.pop();
                            }
                            std::path::Component::Normal(name) => {
                                resolved.push(name.to_string_lossy().into_owned())
                            }
                            _ => {}
                        }
                    }
                    let resolved = resolved.join("/");
                    assert!(
                        ASSETS.iter().any(|(p, _)| *p == resolved),
                        "{path} imports {spec}, which is not served"
                    );
                } else {
                    let target = map["imports"][&spec]
                        .as_str()
                        .unwrap_or_else(|| panic!("{path} imports {spec}, not in the import map"));
                    let file = target
                        .split_once(&format!("dashboard/{}/", PAGE.version))
                        .expect("a versioned URL")
                        .1;
                    assert!(
                        ASSETS.iter().any(|(p, _)| *p == file),
                        "{target} is not served"
                    );
                }
            }
        }
        assert!(
            checked > 50,
            "only {checked} imports found: is the pattern right?"
        );
    }

    #[test]
    fn the_page_names_its_files_by_version_and_allows_its_import_map_by_hash() {
        let page = &*PAGE;
        assert!(!page.html.contains("{{"), "a placeholder is left");
        assert!(
            page.html
                .contains(&format!("dashboard/{}/js/main.js", page.version))
        );
        let hash = STANDARD.encode(Sha256::digest(import_map(&page.html).as_bytes()));
        assert!(
            page.policy
                .to_str()
                .expect("ASCII")
                .contains(&format!("'sha256-{hash}'"))
        );
        assert_eq!(page.version.len(), 16);
    }
}
