//! Lists: NetBox filters mapped onto the registry's filter tree, ordering, limit/offset with
//! `next`/`previous`, and a 400 naming whatever is not understood.

use axum::http::StatusCode;
use chrono::SecondsFormat;
use entity::{enums::BuildStatus, image_build, image_definition};
use sea_orm::Set;
use serde_json::{Value, json};

use super::{API, column, get};
use crate::support::{TestApp, at};

/// Three definitions (one per tenant, one for everyone) and five builds in every status.
struct Sample {
    noble: i32,
    bookworm: i32,
    rocky: i32,
    t1: i32,
    t2: i32,
    builds: [i32; 5],
}

async fn sample(app: &TestApp) -> Sample {
    let world = app.world().await;
    let seed = app.seed();
    let (w, e, c) = (&world, world.endpoint, world.cluster);
    let noble = seed.definition("Ubuntu Noble", e, c, &[w.t1], |_| {}).await;
    let bookworm = seed
        .definition(
            "Debian Bookworm",
            e,
            c,
            &[w.t2],
            |d: &mut image_definition::ActiveModel| {
                d.os_family = Set(entity::enums::OsFamily::Debian);
                d.enabled = Set(false);
            },
        )
        .await;
    let rocky = seed.definition("Rocky Nine", e, c, &[], |_| {}).await;
    let build = |definition, status, seconds, error: &'static str| {
        seed.build(
            definition,
            e,
            status,
            at(seconds),
            None,
            move |b: &mut image_build::ActiveModel| {
                b.error = Set(error.into());
            },
        )
    };
    let builds = [
        build(noble, BuildStatus::Running, -300, "").await,
        build(noble, BuildStatus::Failed, -200, "disk full").await,
        build(bookworm, BuildStatus::Completed, -100, "").await,
        build(rocky, BuildStatus::Pending, -50, "").await,
        build(rocky, BuildStatus::Cancelled, 0, "").await,
    ];
    Sample {
        noble,
        bookworm,
        rocky,
        t1: w.t1,
        t2: w.t2,
        builds,
    }
}

/// The ids a list answers, and its count.
async fn ids(app: &TestApp, path: &str) -> (Vec<i64>, i64) {
    let reply = get(app, path, &app.admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    let ids = column(&reply.body, "id")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    (ids, reply.body["count"].as_i64().expect("a count"))
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn filters_are_query_parameters_over_the_same_filter_tree() {
    let app = TestApp::new().await;
    let s = sample(&app).await;
    let b = s.builds.map(i64::from);
    let since = at(-150).to_rfc3339_opts(SecondsFormat::Secs, true);
    let since_plus = at(-150).to_rfc3339_opts(SecondsFormat::Secs, false);
    let cases: Vec<(String, Vec<i64>)> = vec![
        ("?status=running&status=failed".into(), vec![b[0], b[1]]),
        (
            "?status__n=running&status__n=failed".into(),
            vec![b[2], b[3], b[4]],
        ),
        (format!("?definition={}", s.noble), vec![b[0], b[1]]),
        (format!("?definition_id={}", s.noble), vec![b[0], b[1]]),
        (format!("?tenant={}", s.t2), vec![b[2]]),
        (
            format!("?tenant={}&tenant={}", s.t1, s.t2),
            vec![b[0], b[1], b[2]],
        ),
        ("?tenant__isnull=true".into(), vec![b[3], b[4]]),
        ("?q=DISK".into(), vec![b[1]]),
        (format!("?created__gte={since}"), vec![b[2], b[3], b[4]]),
        // An offset's `+` sent unencoded arrives as a space, and still means `+`.
        (
            format!("?created__gte={since_plus}"),
            vec![b[2], b[3], b[4]],
        ),
        (
            format!("?created__lt={since}&status__n=running"),
            vec![b[1]],
        ),
        ("?os_family=debian".into(), vec![b[2]]),
        ("?started_at__isnull=true".into(), vec![b[3]]),
        ("?completed_at__empty=false".into(), vec![]),
        ("?status=&q=".into(), b.to_vec()),
    ];
    for (query, expected) in cases {
        let (found, count) = ids(&app, &format!("/image-builds/{query}")).await;
        assert_eq!(sorted(found), expected, "{query}");
        assert_eq!(count, expected.len() as i64, "{query}");
    }
    let (noble, bookworm, rocky) = (
        i64::from(s.noble),
        i64::from(s.bookworm),
        i64::from(s.rocky),
    );
    let cases: Vec<(String, Vec<i64>)> = vec![
        ("?name__ic=NOBLE".into(), vec![noble]),
        ("?name__isw=ubu".into(), vec![noble]),
        ("?name__iew=NINE".into(), vec![rocky]),
        ("?name__nisw=ubu&name__niew=nine".into(), vec![bookworm]),
        ("?name__nic=an".into(), vec![noble, rocky]),
        ("?name__ie=rocky%20nine".into(), vec![rocky]),
        ("?name=Rocky+Nine".into(), vec![rocky]),
        ("?name__n=Rocky+Nine".into(), vec![noble, bookworm]),
        ("?enabled=false".into(), vec![bookworm]),
        (
            "?target_node__empty=false".into(),
            vec![noble, bookworm, rocky],
        ),
        ("?target_cluster__empty=true".into(), vec![]),
        (format!("?tenant__n={}", s.t1), vec![bookworm, rocky]),
        (
            format!("?id__gte={bookworm}&id__lte={bookworm}"),
            vec![bookworm],
        ),
        (
            "?builder_type=proxmox-clone&os_family=ubuntu".into(),
            vec![noble, rocky],
        ),
        ("?q=bookworm".into(), vec![bookworm]),
    ];
    for (query, expected) in cases {
        let (found, count) = ids(&app, &format!("/image-definitions/{query}")).await;
        assert_eq!(sorted(found), sorted(expected.clone()), "{query}");
        assert_eq!(count, expected.len() as i64, "{query}");
    }
}

#[tokio::test]
async fn what_a_list_does_not_understand_is_a_400_naming_it() {
    let app = TestApp::new().await;
    sample(&app).await;
    for (path, field) in [
        ("/image-builds/?colour=blue", "colour"),
        ("/image-builds/?status=exploded", "status"),
        ("/image-builds/?status__ic=run", "status__ic"),
        ("/image-builds/?created=2026-01-01", "created"),
        ("/image-builds/?created__gte=yesterday", "created__gte"),
        ("/image-builds/?output_vmid=abc", "output_vmid"),
        ("/image-builds/?name=x", "name"),
        ("/image-builds/?status__regex=r", "status__regex"),
        ("/image-definitions/?name__gt=a", "name__gt"),
        ("/image-definitions/?enabled=maybe", "enabled"),
        ("/image-definitions/?ordering=-colour", "ordering"),
        ("/image-definitions/?limit=-1", "limit"),
        ("/image-definitions/?offset=x", "offset"),
        ("/image-definitions/?name=a%00b", "name"),
    ] {
        let reply = get(&app, path, &app.admin).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.body
        );
        assert!(reply.body[field][0].is_string(), "{path}: {}", reply.body);
    }
    let many = vec!["id=1"; 1001].join("&");
    let reply = get(&app, &format!("/image-builds/?{many}"), &app.admin).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["non_field_errors"][0].is_string(),
        "{}",
        reply.body
    );
    let ids = (1..=1000)
        .map(|i| format!("id={i}"))
        .collect::<Vec<_>>()
        .join("&");
    let reply = get(
        &app,
        &format!("/image-builds/?{ids}&limit=&offset="),
        &app.admin,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "1002 parameters");
    let reply = get(&app, &format!("/image-builds/?{ids}"), &app.admin).await;
    assert_eq!(
        reply.body["count"], 5,
        "1000 values of one filter: {}",
        reply.body
    );
    let reply = get(&app, "/image-builds/?limit=&offset=", &app.admin).await;
    assert_eq!(
        reply.body["count"], 5,
        "empty paging parameters: {}",
        reply.body
    );
    let reply = get(
        &app,
        "/image-builds/?colour=blue&status=exploded",
        &app.admin,
    )
    .await;
    assert_eq!(
        reply.body.as_object().map(|o| o.len()),
        Some(2),
        "both at once: {}",
        reply.body
    );
}

#[tokio::test]
async fn ordering_maps_onto_the_sort_keys() {
    let app = TestApp::new().await;
    let s = sample(&app).await;
    let names = |body: &Value| column(body, "name");
    let by_name = get(&app, "/image-definitions/", &app.admin).await;
    assert_eq!(
        names(&by_name.body),
        [
            json!("Debian Bookworm"),
            json!("Rocky Nine"),
            json!("Ubuntu Noble")
        ]
    );
    let reversed = get(&app, "/image-definitions/?ordering=-name", &app.admin).await;
    assert_eq!(
        names(&reversed.body),
        [
            json!("Ubuntu Noble"),
            json!("Rocky Nine"),
            json!("Debian Bookworm")
        ]
    );
    let by_family = get(
        &app,
        "/image-definitions/?ordering=os_family,-name",
        &app.admin,
    )
    .await;
    assert_eq!(
        names(&by_family.body),
        [
            json!("Debian Bookworm"),
            json!("Ubuntu Noble"),
            json!("Rocky Nine")
        ]
    );
    // Builds: newest first by default; `ordering=created` oldest first.
    let newest = ids(&app, "/image-builds/").await.0;
    assert_eq!(newest.first().copied(), Some(i64::from(s.builds[4])));
    let oldest = ids(&app, "/image-builds/?ordering=created").await.0;
    assert_eq!(oldest.first().copied(), Some(i64::from(s.builds[0])));
}

#[tokio::test]
async fn limit_and_offset_page_with_absolute_links() {
    let app = TestApp::new().await;
    sample(&app).await;
    let first = get(
        &app,
        "/image-builds/?status__n=cancelled&limit=2&ordering=created",
        &app.admin,
    )
    .await;
    assert_eq!(first.body["count"], 4);
    assert_eq!(column(&first.body, "id").len(), 2);
    assert_eq!(first.body["previous"], Value::Null);
    let next = first.body["next"].as_str().expect("a next page");
    assert_eq!(
        next,
        format!("{API}/image-builds/?status__n=cancelled&ordering=created&limit=2&offset=2")
    );
    let second = get(&app, next.trim_start_matches(API), &app.admin).await;
    assert_eq!(second.body["next"], Value::Null);
    assert_eq!(
        second.body["previous"],
        json!(format!(
            "{API}/image-builds/?status__n=cancelled&ordering=created&limit=2"
        ))
    );
    let all: Vec<Value> = [column(&first.body, "id"), column(&second.body, "id")].concat();
    let mut unique = all.clone();
    unique.dedup();
    assert_eq!(unique.len(), 4, "no row repeated or skipped: {all:?}");

    let middle = get(&app, "/image-builds/?limit=1&offset=2", &app.admin).await;
    assert_eq!(
        middle.body["previous"],
        json!(format!("{API}/image-builds/?limit=1&offset=1"))
    );
    assert_eq!(
        middle.body["next"],
        json!(format!("{API}/image-builds/?limit=1&offset=3"))
    );
    for offset in ["50", "18446744073709551615"] {
        let beyond = get(&app, &format!("/image-builds/?offset={offset}"), &app.admin).await;
        assert_eq!(beyond.status, StatusCode::OK, "{offset}: {}", beyond.body);
        assert_eq!(beyond.body["results"], json!([]));
        assert_eq!(beyond.body["count"], 5);
        assert_eq!(beyond.body["next"], Value::Null);
    }

    // Beyond 1000 (or 0) is capped to 1000, as NetBox caps it; the links say so.
    for limit in ["1001", "0"] {
        let capped = get(
            &app,
            &format!("/image-builds/?limit={limit}&offset=1"),
            &app.admin,
        )
        .await;
        assert_eq!(capped.status, StatusCode::OK);
        assert_eq!(column(&capped.body, "id").len(), 4);
        assert_eq!(
            capped.body["previous"],
            json!(format!("{API}/image-builds/?limit=1000"))
        );
    }
}
