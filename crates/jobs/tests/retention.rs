//! Retention over a month of backups, on a fake clock: after every backup the rules are applied,
//! as the backup job does, and what is left is exactly what the rules say.

use switchboard_jobs::{backup, retention, Cancel, Retention};
use switchboard_store::{Backend, Store};

use crate::util::{t, Place};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[tokio::test]
async fn a_month_of_backups_keeps_what_the_rules_say() {
    let place = Place::new(Backend::Sqlite, "retention").unwrap();
    let url = place.url();
    let store = Store::open(&url).await.unwrap();
    let rules = Retention {
        keep_last: Some(3),
        keep_daily: Some(5),
        keep_weekly: Some(3),
    };
    // Twice a day, 03:00 and 15:00 UTC, from Sunday 2026-11-22 to Monday 2026-12-21.
    for day in 0..30 {
        for hour in [1, 13] {
            let now = t(day * DAY + hour * HOUR);
            backup::take(&store, &url, &place.backups(), now, &Cancel::default())
                .await
                .unwrap();
            retention::apply(&place.backups(), &rules, now).unwrap();
        }
    }
    store.close().await;
    let left: Vec<String> = retention::list(&place.backups())
        .unwrap()
        .into_iter()
        .map(|e| e.header.unwrap().created_at)
        .collect();
    assert_eq!(
        left,
        [
            "2026-12-13T15:00:00.000Z", // weekly: the newest of the week of Dec 7
            "2026-12-17T15:00:00.000Z", // daily, five days that have backups
            "2026-12-18T15:00:00.000Z",
            "2026-12-19T15:00:00.000Z",
            "2026-12-20T15:00:00.000Z", // daily, weekly (Dec 14-20), last
            "2026-12-21T03:00:00.000Z", // last
            "2026-12-21T15:00:00.000Z", // last, daily, weekly
        ]
    );
    // Whatever is not a backup is never deleted.
    std::fs::write(place.backups().join("notes.backup"), b"mine").unwrap();
    retention::apply(&place.backups(), &rules, t(40 * DAY)).unwrap();
    assert!(place.backups().join("notes.backup").exists());
}
