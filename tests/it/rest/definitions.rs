//! `image-definitions/`: create, read, replace, update and delete, with brief nested objects and
//! field errors in Django REST framework's shape.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::{API, call, create_definition, definition_body, get};
use crate::support::TestApp;

#[tokio::test]
async fn a_definition_is_created_read_replaced_updated_and_deleted() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut body = definition_body(&world, "Ubuntu 24.04", "ubuntu-2404");
    body["allowed_tenants"] = json!([world.t2, {"id": world.t1}]);
    body["default_variables"] = json!({"cores": 2});
    let created = call(
        &app,
        Method::POST,
        "/image-definitions/",
        Some(&app.admin),
        Some(body),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_i64().expect("a plain integer id");
    let d = &created.body;
    assert_eq!(d["url"], json!(format!("{API}/image-definitions/{id}/")));
    assert_eq!(d["display"], "Ubuntu 24.04");
    assert_eq!(d["builder_type"], "proxmox-clone");
    assert_eq!(d["os_family"], "ubuntu");
    assert_eq!(d["provisioner_recipe"], "ubuntu-base");
    assert_eq!(d["default_bridge"], "vmbr0", "a default");
    assert_eq!(d["default_ciuser"], "ubuntu", "a default");
    assert_eq!(d["enabled"], true);
    assert_eq!(d["iso_url"], Value::Null);
    assert_eq!(d["default_variables"], json!({"cores": 2}));
    assert_eq!(
        d["proxmox_endpoint"],
        json!({"id": world.endpoint, "url": format!("{API}/proxmox-endpoints/{}/", world.endpoint),
               "display": "pve-api", "name": "pve-api"})
    );
    assert_eq!(d["target_cluster"]["name"], "pve-prod");
    assert_eq!(
        d["target_cluster"]["url"],
        json!(format!("{API}/clusters/{}/", world.cluster))
    );
    // Tenants by name, whatever order they were given in.
    let tenants: Vec<_> = d["allowed_tenants"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(tenants, [json!("Tenant One"), json!("Tenant Two")]);
    for stamp in ["created", "last_updated"] {
        let text = d[stamp].as_str().expect("a timestamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{stamp}: {text}"
        );
    }
    // Every URL rendered resolves.
    let endpoint = get(
        &app,
        &format!("/proxmox-endpoints/{}/", world.endpoint),
        &app.admin,
    )
    .await;
    assert_eq!(endpoint.status, StatusCode::OK);
    assert_eq!(endpoint.body, d["proxmox_endpoint"]);

    let read = get(&app, &format!("/image-definitions/{id}/"), &app.admin).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(&read.body, d);

    // PUT: the representation read, changed, sent back as it is (nested objects, echoed
    // read-only fields) is accepted.
    let mut full = read.body.clone();
    full["description"] = json!("the LTS");
    full["target_cluster"] = json!(null);
    full["source_template_vmid"] = json!(null);
    full["builder_type"] = json!({"value": "proxmox-iso"});
    full["iso_storage"] = json!("local:iso/ubuntu-24.04.iso");
    let put = call(
        &app,
        Method::PUT,
        &format!("/image-definitions/{id}/"),
        Some(&app.admin),
        Some(full),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["builder_type"], "proxmox-iso");
    assert_eq!(put.body["target_cluster"], Value::Null);
    assert_eq!(put.body["description"], "the LTS");
    assert_eq!(
        put.body["allowed_tenants"].as_array().map(Vec::len),
        Some(2)
    );

    // PUT without what creation requires is refused, naming each missing field.
    let partial = call(
        &app,
        Method::PUT,
        &format!("/image-definitions/{id}/"),
        Some(&app.admin),
        Some(json!({"name": "Ubuntu", "description": "x"})),
    )
    .await;
    assert_eq!(partial.status, StatusCode::BAD_REQUEST);
    for field in [
        "slug",
        "proxmox_endpoint",
        "target_node",
        "default_storage",
        "os_family",
        "os_release",
        "provisioner_recipe",
    ] {
        assert_eq!(
            partial.body[field],
            json!(["is required"]),
            "{field}: {}",
            partial.body
        );
    }
    assert!(partial.body.get("name").is_none());

    // PATCH changes only what it carries; an explicit null clears a nullable field.
    let patch = call(
        &app,
        Method::PATCH,
        &format!("/image-definitions/{id}/"),
        Some(&app.admin),
        Some(json!({"enabled": false, "allowed_tenants": [], "iso_url": null})),
    )
    .await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.body);
    assert_eq!(patch.body["enabled"], false);
    assert_eq!(patch.body["allowed_tenants"], json!([]));
    assert_eq!(patch.body["description"], "the LTS", "unchanged");

    let deleted = call(
        &app,
        Method::DELETE,
        &format!("/image-definitions/{id}/"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null);
    let gone = get(&app, &format!("/image-definitions/{id}/"), &app.admin).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.body["detail"], "Not found.");
    assert_eq!(app.count("image_definition").await, 0);
}

#[tokio::test]
async fn field_errors_are_reported_together_by_field() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let mut body = definition_body(&world, "  ", "not a slug");
    body["source_template_vmid"] = json!(5);
    body["proxmox_endpoint"] = json!(999_999);
    body["default_variables"] = json!({"colour": "blue"});
    let reply = call(
        &app,
        Method::POST,
        "/image-definitions/",
        Some(&app.admin),
        Some(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let fields: Vec<&str> = reply
        .body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "default_variables",
            "name",
            "proxmox_endpoint",
            "slug",
            "source_template_vmid"
        ],
        "{}",
        reply.body
    );
    assert!(
        reply.body["proxmox_endpoint"][0]
            .as_str()
            .is_some_and(|m| m.contains("endpoint"))
    );
    assert!(
        reply.body.get("code").is_none(),
        "field errors alone: {}",
        reply.body
    );

    // The adapter's own type checks, all at once, named as the body names them.
    let reply = call(
        &app,
        Method::POST,
        "/image-definitions/",
        Some(&app.admin),
        Some(
            json!({"name": 3, "enabled": "yes", "os_family": "plan9", "allowed_tenants": "all",
                    "target_cluster": {"name": "x"}, "colour": "blue", "id": 77}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["name"], json!(["must be a string"]));
    assert_eq!(reply.body["enabled"], json!(["must be true or false"]));
    assert!(
        reply.body["os_family"][0]
            .as_str()
            .is_some_and(|m| m.contains("ubuntu, debian"))
    );
    assert!(reply.body["allowed_tenants"][0].is_string());
    assert!(reply.body["target_cluster"][0].is_string());
    assert_eq!(
        reply.body["colour"],
        json!(["is not a writable field of this object"])
    );
    assert!(reply.body.get("id").is_none(), "an echoed id is ignored");
    assert_eq!(app.count("image_definition").await, 0);

    // A uniqueness conflict is 409 with its fields.
    create_definition(&app, definition_body(&world, "One", "one")).await;
    let reply = call(
        &app,
        Method::POST,
        "/image-definitions/",
        Some(&app.admin),
        Some(definition_body(&world, "One", "one")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.body["code"], "CONFLICT");
    assert_eq!(
        reply.body["fields"],
        json!({"name": ["is already taken"], "slug": ["is already taken"]})
    );
}

#[tokio::test]
async fn bodies_must_be_json_objects_within_the_limit() {
    let app = TestApp::with_args(&["--body-limit", "1024"]).await;
    let send = |content_type: &'static str, body: String| {
        let token = app.admin.clone();
        let request = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/api/plugins/packer/image-definitions/")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(axum::body::Body::from(body))
            .expect("a request");
        app.send(request)
    };
    let (status, _, body) = send("application/json", "{\"name\": ".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        body["non_field_errors"][0]
            .as_str()
            .is_some_and(|m| m.contains("not valid JSON")),
        "{body}"
    );
    let (status, _, body) = send("application/json", "[1, 2]".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = send("text/plain", "{}".into()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (status, _, body) = send("application/x-www-form-urlencoded", "name=x".into()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let big = json!({"description": "x".repeat(2048)}).to_string();
    let (status, _, body) = send("application/json", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // U+0000 cannot be stored: a client error, not an internal one.
    let (status, _, body) = send("application/json", json!({"name": "a\u{0}b"}).to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("NUL"), "{body}");
}

#[tokio::test]
async fn a_definition_with_builds_is_not_deleted() {
    let app = TestApp::new().await;
    let world = app.world().await;
    let id = create_definition(&app, definition_body(&world, "One", "one")).await;
    app.queue(id as i32).await;
    let reply = call(
        &app,
        Method::DELETE,
        &format!("/image-definitions/{id}/"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.body["code"], "CONFLICT");
    assert!(
        reply.body["fields"]["id"][0]
            .as_str()
            .is_some_and(|m| m.contains("1 builds"))
    );
    assert_eq!(app.count("image_definition").await, 1);
}
