//! Subscribers hear only of what they may see.

use std::collections::BTreeSet;

use serde_json::json;

use crate::ws_client::{Client, TRANSPORT_WS, bearer};

use super::{Who, codes, objects, schema, select, world};

#[tokio::test]
async fn subscribers_hear_only_of_what_they_may_see() {
    let world = world().await;
    let schema = schema(&world.app).await;
    let server = world.app.serve().await;
    let mut clients = Vec::new();
    for who in [Who::Anonymous, Who::TenantViewer] {
        for (field, hops) in &schema.subscriptions {
            let selection: Vec<String> = hops
                .iter()
                .map(|hop| select(hop, "__typename id", 20))
                .collect();
            let query = format!(
                "subscription {{ {field}(afterEventId: \"0\") {{ eventId {} }} }}",
                selection.join(" ")
            );
            let mut client = Client::connect(&server, Some(TRANSPORT_WS), None).await;
            let payload = match world.token(who) {
                Some(token) => bearer(token),
                None => json!({}),
            };
            client.init_with(payload).await;
            client.subscribe("walk", &query, json!({})).await;
            clients.push((who, client));
        }
    }
    world.app.wait_for_subscribers(clients.len()).await;
    // A last change both may see: each client reads until it arrives.
    let last = world
        .app
        .lifecycle(
            &world.app.admin,
            "cancelImageBuild",
            &world.open_pending,
            "",
        )
        .await;
    let last = last["data"]["cancelImageBuild"]["events"]
        .as_array()
        .and_then(|events| events.last())
        .and_then(|event| event["id"].as_str())
        .unwrap_or_else(|| panic!("cancelled: {last}"))
        .to_owned();
    for (who, mut client) in clients {
        let mut heard = BTreeSet::new();
        loop {
            let message = client.recv().await;
            assert_eq!(message["type"], "next", "{who:?}: {message}");
            let payload = &message["payload"];
            let mut found = Vec::new();
            objects(&payload["data"], &mut found);
            for (ty, id) in found {
                assert!(
                    world
                        .visible(who)
                        .get(&ty)
                        .is_some_and(|ids| ids.contains(&id)),
                    "{who:?} heard of {ty} {id}: {payload}"
                );
            }
            let allowed = match who {
                Who::Anonymous => vec!["UNAUTHENTICATED"],
                Who::TenantViewer => vec![],
            };
            for code in codes(payload) {
                assert!(allowed.contains(&code.as_str()), "{who:?}: {payload}");
            }
            let event = payload["data"]["buildStatusChanged"]["eventId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if event == last {
                break;
            }
            heard.insert(event);
        }
        assert_eq!(
            heard,
            world.visible(who)["BuildEvent"],
            "{who:?} hears every event it may see"
        );
    }
    server.shutdown().await;
}
