//! Writers racing on one database: two stores on the same SQLite file or PostgreSQL schema,
//! as two server processes would be, each with many operations in flight at once.

use std::time::Duration;

use switchboard_store::{Role, Store, StoreError};

use crate::util::{t, token, with_postgres, TempDir};

const HOUR: i64 = 3_600_000;
const WINDOW: Duration = Duration::from_secs(60);
const TASKS: i64 = 24;

/// Every write lands once: no lost failure, no busy error past the timeouts, one winner when
/// several sign up with one name ignoring case, and the others told it is taken.
async fn racing_writers_all_land(a: Store, b: Store) {
    let ann = a.create_user("ann", "h", Role::User, t(0)).await.unwrap();
    a.create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap();

    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let name = if i % 3 == 0 { "Zoe" } else { "zoe" };
            tokio::spawn(async move {
                let recorded = store
                    .record_login_failure("ip:10.0.0.1", t(i), WINDOW)
                    .await
                    .unwrap();
                assert!((1..=TASKS as u32).contains(&recorded), "{recorded}");
                let (session, _) = store
                    .touch_session(&token(1), t(i), t(0))
                    .await
                    .unwrap()
                    .expect("the session is alive");
                assert!(session.last_seen_at >= t(i));
                match store.create_user(name, "h", Role::User, t(i)).await {
                    Ok(_) => true,
                    Err(StoreError::UsernameTaken) => false,
                    Err(other) => panic!("creating {name}: {other:?}"),
                }
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        created += u32::from(task.await.unwrap());
    }

    assert_eq!(created, 1, "exactly one of the racing sign-ups wins");
    assert_eq!(
        b.login_failures("ip:10.0.0.1", t(TASKS), WINDOW)
            .await
            .unwrap(),
        (TASKS as u32, Some(t(TASKS - 1)))
    );
    let (session, _) = a
        .touch_session(&token(1), t(0), t(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.last_seen_at, t(TASKS - 1), "never moved backwards");
    assert_eq!(a.count_users().await.unwrap(), 2);
}

#[tokio::test]
async fn sqlite_racing_writers_all_land() {
    let dir = TempDir::new();
    let url = dir.sqlite_url("app.db");
    let (a, b) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );
    racing_writers_all_land(a.clone(), b.clone()).await;
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn postgres_racing_writers_all_land() {
    with_postgres(
        "concurrency::postgres_racing_writers_all_land",
        |target| async move {
            let (a, b) = (target.open().await, target.open().await);
            racing_writers_all_land(a.clone(), b.clone()).await;
            a.close().await;
            b.close().await;
        },
    )
    .await;
}
