//! Walking whole lists both ways while rows come and go, and cursors on NULL keys.

use entity::enums::BuildStatus;
use serde_json::json;

use super::{Fixture, Row, builds, order_by};

/// Twelve builds queued 100 s apart, newest first: `r[0]` is the newest.
async fn twelve(f: &Fixture) -> Vec<i32> {
    let mut rows: Vec<Row> = (1..=12).map(|i| Row::pending(-100 * i)).collect();
    f.seed(&mut rows).await
}

#[tokio::test]
async fn walking_forward_while_rows_come_and_go_neither_repeats_nor_skips() {
    let f = Fixture::new().await;
    let r = twelve(&f).await;
    let list = builds(json!(null));
    let mut seen = Vec::new();

    let page = list.page(&f.app, json!({"first": 3})).await;
    assert_eq!(page.ids, [r[0], r[1], r[2]]);
    seen.extend(page.ids);
    f.queue(0).await; // newer than everything: behind us
    let oldest = f.queue(-5000).await; // ahead of us
    f.delete(r[2]).await; // the cursor row itself
    f.delete(r[5]).await; // a row not yet seen

    let page = list
        .page(&f.app, json!({"first": 3, "after": page.end}))
        .await;
    assert_eq!(page.ids, [r[3], r[4], r[6]]);
    seen.extend(page.ids);
    f.queue(-700).await; // ties the cursor row with a larger id: behind us
    let tie = f.queue(-800).await; // ties a row not yet seen: ahead of us
    f.delete(r[3]).await; // a row already seen

    let mut after = page.end;
    loop {
        let page = list.page(&f.app, json!({"first": 3, "after": after})).await;
        seen.extend(page.ids);
        if !page.has_next {
            break;
        }
        after = page.end;
    }
    let expected = [
        r[0], r[1], r[2], r[3], r[4], r[6], tie, r[7], r[8], r[9], r[10], r[11], oldest,
    ];
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn walking_backward_while_rows_come_and_go_neither_repeats_nor_skips() {
    let f = Fixture::new().await;
    let r = twelve(&f).await;
    let list = builds(json!(null));
    let mut seen = Vec::new();

    let page = list.page(&f.app, json!({"last": 3})).await;
    assert_eq!(page.ids, [r[9], r[10], r[11]]);
    seen.splice(0..0, page.ids);
    let newest = f.queue(0).await; // ahead of us
    f.queue(-5000).await; // older than everything: behind us
    f.delete(r[9]).await; // the cursor row itself
    f.delete(r[6]).await; // a row not yet seen

    let page = list
        .page(&f.app, json!({"last": 3, "before": page.start}))
        .await;
    assert_eq!(page.ids, [r[5], r[7], r[8]]);
    seen.splice(0..0, page.ids);
    let tie = f.queue(-600).await; // ties the cursor row with a larger id: ahead of us
    f.queue(-900).await; // ties a row already seen: behind us
    f.delete(r[8]).await; // a row already seen

    let mut before = page.start;
    loop {
        let page = list
            .page(&f.app, json!({"last": 3, "before": before}))
            .await;
        seen.splice(0..0, page.ids);
        if !page.has_previous {
            break;
        }
        before = page.start;
    }
    let expected = [
        newest, r[0], r[1], r[2], r[3], r[4], tie, r[5], r[7], r[8], r[9], r[10], r[11],
    ];
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_cursor_on_a_null_key_survives_inserts_and_deletes() {
    let f = Fixture::new().await;
    // Four started builds, then four never started.
    let mut rows: Vec<Row> = (0..8)
        .map(|i| {
            let started = (i < 4).then_some(-100 + i);
            Row::new(BuildStatus::Running, "n", 1000, "v").times(started, None, -1000, 0)
        })
        .collect();
    let r = f.seed(&mut rows).await;
    let list = builds(order_by(&[("STARTED_AT", false)]));

    let first = list.page(&f.app, json!({"first": 3})).await;
    assert_eq!(first.ids, [r[0], r[1], r[2]]);
    let second = list
        .page(&f.app, json!({"first": 3, "after": first.end}))
        .await;
    assert_eq!(second.ids, [r[3], r[4], r[5]]); // ends on a NULL
    let late_null = f.queue(0).await; // ahead of us
    let early = Row::new(BuildStatus::Running, "n", 1000, "v").times(Some(-50), None, 0, 0);
    let early = f.seed(&mut [early]).await[0]; // started: before every NULL, behind us
    f.delete(r[5]).await;
    let third = list
        .page(&f.app, json!({"first": 3, "after": second.end}))
        .await;
    assert_eq!(
        (third.ids.as_slice(), third.has_next),
        (&[r[6], r[7], late_null][..], false)
    );

    // Descending, NULLs come first; walk back from the end across the NULL border.
    let list = builds(order_by(&[("STARTED_AT", true)]));
    let expected = [late_null, r[7], r[6], r[4], early, r[3], r[2], r[1], r[0]];
    assert_eq!(list.all(&f.app).await, expected);
    let last = list.page(&f.app, json!({"last": 4})).await;
    assert_eq!(last.ids, [r[3], r[2], r[1], r[0]]);
    let before = list
        .page(&f.app, json!({"last": 3, "before": last.start}))
        .await;
    assert_eq!(before.ids, [r[6], r[4], early]);
    let first = list
        .page(&f.app, json!({"last": 3, "before": before.start}))
        .await;
    assert_eq!(
        (first.ids.as_slice(), first.has_previous),
        (&[late_null, r[7]][..], false)
    );
}
