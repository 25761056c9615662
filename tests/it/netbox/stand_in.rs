//! A stand-in NetBox speaking the parts of its REST API the sync uses: lists in NetBox's envelope
//! (`count`, `next`, `previous`, `results`) with `limit`/`offset` paging and absolute `next`
//! links, a page-size cap, `last_updated__gte`, `fields=id`, v1 (`Token`) and v2 (`Bearer nbt_…`)
//! tokens, and a switch that makes it answer 503 from a given request on.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The v1 token the stand-in accepts (`Authorization: Token …`).
pub const V1_TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";
/// The v2 token it accepts (`Authorization: Bearer …`).
pub const V2_TOKEN: &str = "nbt_k3y0000001.s3cr3tv2tokenvalue0123456789";
/// Most objects per page, whatever `limit` asks.
pub const PAGE_CAP: usize = 2;

/// A running stand-in.
#[derive(Clone)]
pub struct NetBox {
    /// Its base URL (`http://127.0.0.1:port`).
    pub url: String,
    state: Arc<Shared>,
}

struct Shared {
    data: Mutex<Data>,
    requests: AtomicUsize,
    /// Requests from this number on answer 503 (`usize::MAX`: never).
    fail_from: AtomicUsize,
}

#[derive(Default)]
struct Data {
    /// Objects by list path, by id.
    lists: BTreeMap<String, BTreeMap<i64, Value>>,
    /// The `path?query` of every request, in order.
    log: Vec<String>,
    /// Seconds since the stand-in's epoch, moved by every change.
    tick: i64,
}

/// The list paths.
pub const TENANTS: &str = "/api/tenancy/tenants/";
/// Cluster types.
pub const CLUSTER_TYPES: &str = "/api/virtualization/cluster-types/";
/// Clusters.
pub const CLUSTERS: &str = "/api/virtualization/clusters/";
/// Proxmox endpoints (netbox-proxbox).
pub const ENDPOINTS: &str = "/api/plugins/proxbox/endpoints/proxmox/";
/// Users.
pub const USERS: &str = "/api/users/users/";
/// Cloud image templates (netbox-proxbox).
pub const TEMPLATES: &str = "/api/plugins/proxbox/cloud-image-templates/";

impl NetBox {
    /// Starts a stand-in on a free port.
    pub async fn start() -> NetBox {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Shared {
            data: Mutex::new(Data::default()),
            requests: AtomicUsize::new(0),
            fail_from: AtomicUsize::new(usize::MAX),
        });
        let app = Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        NetBox { url, state }
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.state
            .data
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates or replaces object `id` of `list` (`fields` without `id`, `url` or
    /// `last_updated`), bumping its `last_updated`.
    pub fn put(&self, list: &str, id: i64, fields: Value) {
        let mut data = self.data();
        data.tick += 1;
        let stamp = instant(data.tick);
        let mut object = fields;
        object["id"] = json!(id);
        object["url"] = json!(format!("{}{list}{id}/", self.url));
        if list != USERS {
            object["last_updated"] = json!(stamp);
        }
        data.lists
            .entry(list.to_owned())
            .or_default()
            .insert(id, object);
    }

    /// Changes fields of object `id` of `list`; `bump` says whether `last_updated` moves (NetBox
    /// does not move it on `QuerySet.update()`, nor a cluster's when its type is renamed).
    pub fn edit(&self, list: &str, id: i64, fields: Value, bump: bool) {
        let mut data = self.data();
        data.tick += 1;
        let stamp = instant(data.tick);
        let object = data
            .lists
            .get_mut(list)
            .and_then(|objects| objects.get_mut(&id))
            .expect("an object to edit");
        if let (Value::Object(object), Value::Object(fields)) = (object, fields) {
            for (key, value) in fields {
                object.insert(key, value);
            }
            if bump && list != USERS {
                object.insert("last_updated".into(), json!(stamp));
            }
        }
    }

    /// Object `id` of `list`.
    pub fn get(&self, list: &str, id: i64) -> Option<Value> {
        self.data().lists.get(list)?.get(&id).cloned()
    }

    /// Deletes object `id` of `list`.
    pub fn delete(&self, list: &str, id: i64) {
        self.data()
            .lists
            .entry(list.to_owned())
            .or_default()
            .remove(&id);
    }

    /// Every request from now on after `ok` more answers 503, until [`NetBox::heal`].
    pub fn fail_after(&self, ok: usize) {
        let now = self.state.requests.load(Ordering::SeqCst);
        self.state.fail_from.store(now + ok, Ordering::SeqCst);
    }

    /// Answers again.
    pub fn heal(&self) {
        self.state.fail_from.store(usize::MAX, Ordering::SeqCst);
    }

    /// The `path?query` of every request so far.
    pub fn log(&self) -> Vec<String> {
        // (Writes are logged as `METHOD path`.)
        self.data().log.clone()
    }
}

/// The stand-in's instant number `tick`, as NetBox writes `last_updated` (microseconds, `Z`).
fn instant(tick: i64) -> String {
    let epoch = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("an instant");
    (epoch + Duration::seconds(tick) + Duration::microseconds(123_456))
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

async fn answer(State(state): State<Arc<Shared>>, request: Request) -> Response {
    let number = state.requests.fetch_add(1, Ordering::SeqCst);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state
        .data
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .log
        .push(if method == Method::GET {
            format!("{path}?{query}")
        } else {
            format!("{method} {path}")
        });
    if number >= state.fail_from.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "NetBox is down").into_response();
    }
    let known = authorization == format!("Token {V1_TOKEN}")
        || authorization == format!("Bearer {V2_TOKEN}");
    if !known {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"detail": "Invalid v1 token"})),
        )
            .into_response();
    }
    if method != Method::GET {
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let fields: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        return write(&state, &method, &path, fields);
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, PAGE_CAP);
    let offset = param("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let since = param("last_updated__gte").map(|text| {
        DateTime::parse_from_rfc3339(&text)
            .expect("last_updated__gte is an ISO 8601 instant")
            .with_timezone(&Utc)
    });
    let only_id = param("fields").as_deref() == Some("id");
    let slug = param("slug");
    let data = state.data.lock().unwrap_or_else(PoisonError::into_inner);
    let empty = BTreeMap::new();
    let objects = match data.lists.get(&path) {
        Some(objects) => objects,
        None if [
            TENANTS,
            CLUSTER_TYPES,
            CLUSTERS,
            ENDPOINTS,
            USERS,
            TEMPLATES,
        ]
        .contains(&path.as_str()) =>
        {
            &empty
        }
        None => {
            return (StatusCode::NOT_FOUND, Json(json!({"detail": "Not found."}))).into_response();
        }
    };
    let matching: Vec<Value> = objects
        .values()
        .filter(|object| {
            slug.as_ref()
                .is_none_or(|slug| object["slug"] == json!(slug))
        })
        .filter(|object| {
            since.is_none_or(|since| {
                object["last_updated"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t.with_timezone(&Utc) >= since)
            })
        })
        .map(|object| {
            if only_id {
                json!({"id": object["id"]})
            } else {
                object.clone()
            }
        })
        .collect();
    let count = matching.len();
    let page: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    let link = |offset: usize| {
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .filter(|(key, _)| key != "offset" && key != "limit")
            .cloned()
            .collect();
        pairs.push(("limit".into(), limit.to_string()));
        pairs.push(("offset".into(), offset.to_string()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("http://{host}{path}?{query}")
    };
    let next = (offset + limit < count).then(|| link(offset + limit));
    let previous = (offset > 0).then(|| link(offset.saturating_sub(limit)));
    Json(json!({"count": count, "next": next, "previous": previous, "results": page}))
        .into_response()
}

/// A POST to the templates list or a PATCH of one template, stored as NetBox represents it
/// (nested cluster and tenants, `os_family` as a choice).
fn write(state: &Shared, method: &Method, path: &str, fields: Value) -> Response {
    let mut data = state.data.lock().unwrap_or_else(PoisonError::into_inner);
    let (id, created) = if *method == Method::POST && path == TEMPLATES {
        let next = data
            .lists
            .get(TEMPLATES)
            .and_then(|objects| objects.keys().max().copied())
            .unwrap_or(0)
            + 100;
        (next, true)
    } else if let Some(id) = path
        .strip_prefix(TEMPLATES)
        .and_then(|rest| rest.trim_end_matches('/').parse::<i64>().ok())
        .filter(|_| *method == Method::PATCH)
    {
        (id, false)
    } else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    data.tick += 1;
    let stamp = instant(data.tick);
    let objects = data.lists.entry(TEMPLATES.to_owned()).or_default();
    let object = objects.entry(id).or_insert_with(|| json!({"id": id}));
    if let (Value::Object(object), Value::Object(fields)) = (object, fields) {
        for (key, value) in fields {
            let value = match key.as_str() {
                "cluster" => json!({"id": value}),
                "allowed_tenants" => Value::Array(
                    value
                        .as_array()
                        .map(|ids| ids.iter().map(|id| json!({"id": id})).collect())
                        .unwrap_or_default(),
                ),
                "os_family" => json!({"value": value, "label": value}),
                _ => value,
            };
            object.insert(key, value);
        }
        object.insert("last_updated".into(), json!(stamp));
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(objects[&id].clone())).into_response()
}
