//! Credentials and tokens: checked every time, `last_used`, no secret or hash ever leaves the
//! service, and the first start and the CLI's user and token commands.

use axum::http::StatusCode;
use entity::enums::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, at, code, unique};

#[tokio::test]
async fn credentials_are_checked_every_time() {
    let app = TestApp::new().await;
    let query = "{ me { username } }";
    for header in [
        format!("Bearer {}", app.admin),
        format!("Token {}", app.admin),
        format!("bearer {}", app.admin),
    ] {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/graphql")
            .header("content-type", "application/json")
            .header("authorization", header.clone())
            .body(axum::body::Body::from(json!({"query": query}).to_string()))
            .expect("request");
        let (status, _, body) = app.send(request).await;
        assert_eq!(status, StatusCode::OK, "{header}: {body}");
    }
    let (status, body) = app
        .post(Some("pgw_not-a-real-token"), query, json!({}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        "{body}"
    );
    assert!(body.get("data").is_none());

    // Created, used, revoked.
    let created = app
        .data("mutation { createApiToken(input: {description: \"ci\"}) { token apiToken { id keyPrefix } } }", json!({}))
        .await;
    let secret = created["createApiToken"]["token"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let id = created["createApiToken"]["apiToken"]["id"].clone();
    assert!(
        secret.starts_with(
            created["createApiToken"]["apiToken"]["keyPrefix"]
                .as_str()
                .unwrap_or("?")
        )
    );
    assert_eq!(
        app.post(Some(&secret), query, json!({})).await.0,
        StatusCode::OK
    );
    app.data(
        "mutation ($id: ID!) { revokeApiToken(id: $id) }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        app.post(Some(&secret), query, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Expired.
    let created = app
        .data("mutation ($e: DateTime!) { createApiToken(input: {expires: $e}) { token apiToken { id } } }", json!({"e": at(2).to_rfc3339()}))
        .await;
    let expiring = created["createApiToken"]["token"]
        .as_str()
        .expect("a secret")
        .to_owned();
    assert_eq!(
        app.post(Some(&expiring), query, json!({})).await.0,
        StatusCode::OK
    );
    // Time passes on the service's clock, not the test's.
    app.app.clock.advance(chrono::Duration::seconds(3));
    assert_eq!(
        app.post(Some(&expiring), query, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A deactivated user's tokens stop working.
    let (user, token) = app.user(Role::Viewer, &[], true).await;
    app.data(
        "mutation ($id: ID!) { updateUser(id: $id, input: {isActive: false}) { id } }",
        json!({"id": user.to_string()}),
    )
    .await;
    assert_eq!(
        app.post(Some(&token), query, json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn last_used_is_recorded_without_a_write_per_request() {
    let app = TestApp::new().await;
    let (_, token) = app.user(Role::Viewer, &[], true).await;
    let query = "{ me { apiTokens { lastUsed } } }";
    app.as_user(&token, query, json!({})).await;
    app.settle().await;
    let body = app.as_user(&token, query, json!({})).await;
    assert!(
        body["data"]["me"]["apiTokens"][0]["lastUsed"].is_string(),
        "last_used recorded: {body}"
    );
    // Within the minute, requests do not write it again.
    app.settle().await;
    let before = app.statements();
    app.as_user(&token, "{ me { username } }", json!({})).await;
    app.settle().await;
    assert_eq!(
        app.statements() - before,
        1,
        "`me` only: the token is authenticated from memory, and not written again"
    );
}

#[tokio::test]
async fn no_token_secret_or_hash_is_ever_exposed() {
    let sdl = packer_gateway::graphql::sdl();
    let mut current_type = String::new();
    let mut in_description = false;
    for line in sdl.lines() {
        let line = line.trim();
        if line.starts_with("\"\"\"") {
            in_description = !(in_description || line.len() > 3 && line.ends_with("\"\"\""));
            continue;
        }
        if in_description || line.starts_with('"') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("type ")
            .or_else(|| line.strip_prefix("input "))
        {
            current_type = name
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            continue;
        }
        let field = line
            .split(['(', ':'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        for forbidden in ["hash", "secret", "password", "keyhash"] {
            assert!(
                !field.contains(forbidden),
                "{current_type}.{field} exposes a {forbidden}"
            );
        }
        if field == "token" {
            assert_eq!(
                current_type, "CreatedApiToken",
                "only token creation returns a secret"
            );
        }
    }
    // Through the API: a listed token carries its prefix only.
    let app = TestApp::new().await;
    let body = app
        .data(
            "{ me { apiTokens { id keyPrefix description } } }",
            json!({}),
        )
        .await;
    let listed = body.to_string();
    assert!(!listed.contains(&app.admin), "{listed}");
    assert!(
        body["me"]["apiTokens"][0]["keyPrefix"]
            .as_str()
            .is_some_and(|p| p.len() < 16)
    );
}

#[tokio::test]
async fn users_see_their_own_tokens_only() {
    let app = TestApp::new().await;
    let (me, token) = app.user(Role::Operator, &[], true).await;
    let (other, _) = app.user(Role::Operator, &[], true).await;
    let mine = app
        .as_user(
            &token,
            "query ($id: ID!) { user(id: $id) { apiTokens { id } } }",
            json!({"id": me.to_string()}),
        )
        .await;
    assert!(mine.get("errors").is_none(), "{mine}");
    let theirs = app
        .as_user(
            &token,
            "query ($id: ID!) { user(id: $id) { email apiTokens { id } } }",
            json!({"id": other.to_string()}),
        )
        .await;
    assert_eq!(code(&theirs), "FORBIDDEN", "{theirs}");
    assert_eq!(
        theirs["data"]["user"]["email"],
        Value::Null,
        "others' e-mail is hidden"
    );
}

/// The binary on a fresh database: the first start creates `admin` and prints one token, once;
/// the `user` and `token` commands work.
#[tokio::test]
async fn first_start_prints_one_admin_token_and_the_cli_manages_users_and_tokens() {
    if crate::support::postgres().is_some() {
        // The binary's own database handling is the same on both backends; once is enough.
        return;
    }
    let dir = std::env::temp_dir().join(unique("pgw-cli"));
    std::fs::create_dir_all(&dir).expect("a directory");
    let url = format!("sqlite://{}/cli.db", dir.display());
    let binary = env!("CARGO_BIN_EXE_packer-gateway");
    let start = || async {
        let mut child = tokio::process::Command::new(binary)
            .args(["serve", "--database-url", &url, "--listen", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the binary");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
        let mut seen = String::new();
        let read = async {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("listening on") {
                    break;
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), read)
            .await
            .expect("the service starts");
        child.kill().await.ok();
        seen
    };
    let first = start().await;
    let token = first
        .split_whitespace()
        .find(|w| w.starts_with("pgw_"))
        .expect("the first start prints a token")
        .to_owned();
    assert!(first.contains("graphiql#token="), "{first}");
    assert!(
        !first.contains('\u{1b}'),
        "no colour codes when standard error is not a terminal: {first}"
    );
    assert!(
        first.contains(&format!("/#token={token}")),
        "the dashboard link: {first}"
    );
    let second = start().await;
    assert!(
        !second.contains("pgw_"),
        "the token is printed once: {second}"
    );

    let run = |args: Vec<String>| {
        let output = std::process::Command::new(binary)
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .output()
            .expect("run the binary");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (ok, out) = run(vec![
        "user".into(),
        "create".into(),
        "ops".into(),
        "--role".into(),
        "operator".into(),
    ]);
    assert!(ok, "{out}");
    let (ok, secret) = run(vec![
        "token".into(),
        "create".into(),
        "--user".into(),
        "ops".into(),
        "--read-only".into(),
        "--expires".into(),
        "30d".into(),
    ]);
    assert!(ok && secret.trim().starts_with("pgw_"), "{secret}");
    let (ok, out) = run(vec!["token".into(), "revoke".into(), "1".into()]);
    assert!(ok, "{out}");
    assert_ne!(token, secret.trim());
    let _ = std::fs::remove_dir_all(&dir);
}
