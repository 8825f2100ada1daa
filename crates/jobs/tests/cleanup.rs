//! The clean-up job: dead sessions, old login failures and old feed events go, a batch at a
//! time; live ones stay.

use std::time::Duration;

use switchboard_jobs::{Cancel, CleanupTask, Task};
use switchboard_store::{PostLimit, Posted, Role, Store};

use crate::util::{t, Place};

both_engines!(the_cleanup_deletes_what_is_dead_in_batches);

const MINUTE: i64 = 60_000;

async fn the_cleanup_deletes_what_is_dead_in_batches(place: Place) {
    let store = Store::open(&place.url()).await.unwrap();
    let ann = store
        .create_user("ann", "h", Role::User, t(0))
        .await
        .unwrap();
    // 25 sessions idle since t(0), 3 used at t(50 min); all expire in 12 hours.
    for n in 0..28u8 {
        let mut token = [n; 32];
        token[0] = 0xa5;
        let seen = if n < 25 { t(0) } else { t(50 * MINUTE) };
        store
            .create_session(&token, ann.id, seen, t(12 * 60 * MINUTE))
            .await
            .unwrap();
    }
    for n in 0..23 {
        store
            .record_login_failure(&format!("ip:10.0.0.{n}"), t(0), Duration::from_secs(900))
            .await
            .unwrap();
    }
    store
        .record_login_failure("ip:10.0.1.1", t(55 * MINUTE), Duration::from_secs(900))
        .await
        .unwrap();

    // 24 feed events a minute apart from t(0), and one post at t(55 min): with half an hour
    // kept, the 24 go (three batches), the recent one stays.
    let limit = PostLimit {
        posts: 1000,
        window: Duration::from_secs(60),
    };
    let author = ann.id;
    let post = |at| {
        let store = store.clone();
        async move {
            match store.create_post(author, "hi", at, limit).await.unwrap() {
                Posted::Created { event_id, .. } => event_id,
                other => panic!("{other:?}"),
            }
        }
    };
    let mut old = Vec::new();
    for i in 0..24 {
        old.push(post(t(i * MINUTE / 2)).await);
    }
    let recent = post(t(55 * MINUTE)).await;
    assert_eq!(store.feed_pruned_through().await.unwrap(), 0);

    let task = Task::Cleanup(CleanupTask {
        batch: 10,
        session_idle: Duration::from_secs(30 * 60),
        throttle_window: Duration::from_secs(15 * 60),
        keep_history: Duration::from_secs(90 * 24 * 3600),
        feed_retention: Duration::from_secs(30 * 60),
    });
    let done = task
        .perform(&store, t(60 * MINUTE), &Cancel::default())
        .await
        .unwrap();
    assert_eq!(
        done.detail,
        "deleted 25 expired sessions, 23 old login failures, 24 old feed events, 0 old job \
         runs, 0 old request statistics"
    );
    let kept = store.feed_events_after(0, 100).await.unwrap();
    assert_eq!(kept.iter().map(|e| e.id).collect::<Vec<_>>(), [recent]);
    assert_eq!(
        store.feed_pruned_through().await.unwrap(),
        *old.last().unwrap(),
        "where what is kept begins"
    );
    let now = t(60 * MINUTE);
    assert_eq!(
        store
            .count_active_sessions(now, now.saturating_sub(Duration::from_secs(1800)))
            .await
            .unwrap(),
        3
    );
    let (left, _) = store
        .login_failures("ip:10.0.1.1", now, Duration::from_secs(900))
        .await
        .unwrap();
    assert_eq!(left, 1, "a recent failure stays");
    store.close().await;
}
