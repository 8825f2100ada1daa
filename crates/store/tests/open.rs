//! Opening databases: URLs, migrations on reopen and under concurrency, sharing one SQLite
//! file between stores, and the errors a misconfigured or unreachable database gives.

use std::future::Future;
use std::time::Duration;

use sqlx::{Connection, Executor, SqliteConnection};
use switchboard_store::{Backend, Role, Store, StoreError};
use tokio::time::Instant;

use crate::util::{t, token, with_postgres, TempDir};

const HOUR: i64 = 3_600_000;

/// Opens `url` several times at once, as processes starting together would.
async fn open_concurrently(url: &str, schema: Option<&str>) -> Vec<Store> {
    let opens = (0..4).map(|_| {
        let (url, schema) = (url.to_owned(), schema.map(str::to_owned));
        tokio::spawn(async move {
            match schema {
                Some(schema) => Store::open_postgres_in_schema(&url, &schema).await,
                None => Store::open(&url).await,
            }
        })
    });
    let mut stores = Vec::new();
    for open in opens.collect::<Vec<_>>() {
        stores.push(open.await.unwrap().unwrap());
    }
    stores
}

/// Data written by one store is there after reopening, and the migrations are not re-run.
async fn reopen_sees_data(first: &Store, reopen: impl std::future::Future<Output = Store>) {
    let ann = first
        .create_user("ann", "h", Role::User, t(0))
        .await
        .unwrap();
    first
        .create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap();
    first.close().await;
    let again = reopen.await;
    assert_eq!(again.user_by_id(ann.id).await.unwrap(), Some(ann));
    assert!(again
        .touch_session(&token(1), t(1), t(0))
        .await
        .unwrap()
        .is_some());
    again.ping().await.unwrap();
    again.close().await;
}

#[tokio::test]
async fn sqlite_reopen_keeps_data_and_schema() {
    let dir = TempDir::new();
    let url = dir.sqlite_url("app.db");
    let first = Store::open(&url).await.unwrap();
    assert_eq!(first.backend(), Backend::Sqlite);
    reopen_sees_data(&first, async { Store::open(&url).await.unwrap() }).await;

    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM switchboard_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 4, "one row per migration");
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_creates_missing_directories_and_survives_concurrent_first_opens() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("a/b/app.db").display());
    let stores = open_concurrently(&url, None).await;
    stores[0]
        .create_user("ann", "h", Role::User, t(0))
        .await
        .unwrap();
    for store in &stores {
        assert_eq!(store.count_users().await.unwrap(), 1);
    }
}

#[tokio::test]
async fn two_sqlite_stores_share_one_file() {
    let dir = TempDir::new();
    let url = dir.sqlite_url("shared.db");
    let (a, b) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );

    let ann = a.create_user("ann", "h", Role::User, t(0)).await.unwrap();
    a.create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap();
    let (session, user) = b
        .touch_session(&token(1), t(5), t(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((session.last_seen_at, user), (t(5), ann.clone()));
    assert_eq!(
        b.create_user("ANN", "h", Role::User, t(1)).await,
        Err(StoreError::UsernameTaken)
    );

    assert_eq!(
        b.record_login_failure("ip:1", t(0), Duration::from_secs(60))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        a.record_login_failure("ip:1", t(1), Duration::from_secs(60))
            .await
            .unwrap(),
        2
    );

    assert!(b.delete_session(&token(1)).await.unwrap());
    assert_eq!(a.touch_session(&token(1), t(6), t(0)).await.unwrap(), None);
}

/// The migration record is checked on every open: a migration from a newer build is let be,
/// one edited since it ran stops the open. `exec` runs SQL behind the store's back.
async fn migration_records_are_checked<O, OF, X, XF>(open: O, exec: X)
where
    O: Fn() -> OF,
    OF: Future<Output = Result<Store, StoreError>>,
    X: Fn(&'static str) -> XF,
    XF: Future<Output = ()>,
{
    open().await.unwrap().close().await;
    exec(
        "INSERT INTO switchboard_migrations (version, name, checksum, applied_at) \
          VALUES (9999, 'newer', 0, 0)",
    )
    .await;
    let store = open().await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 0);
    store.close().await;

    exec("UPDATE switchboard_migrations SET checksum = 42 WHERE version = 1").await;
    match open().await {
        Err(StoreError::Database(message)) => {
            assert!(
                message.contains("migration 1 (init) was changed"),
                "{message}"
            )
        }
        other => panic!("expected a Database error, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_migration_records_are_checked() {
    let dir = TempDir::new();
    let url = dir.sqlite_url("app.db");
    let exec = |sql: &'static str| {
        let url = url.clone();
        async move {
            let mut conn = SqliteConnection::connect(&url).await.unwrap();
            conn.execute(sqlx::raw_sql(sql)).await.unwrap();
            conn.close().await.unwrap();
        }
    };
    migration_records_are_checked(|| Store::open(&url), exec).await;
}

#[tokio::test]
async fn postgres_migration_records_are_checked() {
    with_postgres(
        "open::postgres_migration_records_are_checked",
        |target| async move {
            let exec = |sql: &'static str| {
                let target = target.clone();
                async move {
                    let mut conn = target.raw().await;
                    let sql = format!("SET search_path TO {}; {sql}", target.schema);
                    conn.execute(sqlx::raw_sql(&sql)).await.unwrap();
                    conn.close().await.unwrap();
                }
            };
            let open = || Store::open_postgres_in_schema(&target.url, &target.schema);
            migration_records_are_checked(open, exec).await;
        },
    )
    .await;
}

#[tokio::test]
async fn bad_urls_are_refused_without_echoing_secrets() {
    for url in [
        "",
        "mysql://root:hunter2@db/app",
        "sqlite::memory:",
        "sqlite://",
        "app.db",
    ] {
        match Store::open(url).await {
            Err(StoreError::BadUrl(message)) => {
                assert!(
                    !message.contains("hunter2") && !message.contains('\n'),
                    "{message}"
                )
            }
            other => panic!("{url:?}: expected BadUrl, got {other:?}"),
        }
    }
    let pg = "postgres://postgres@127.0.0.1:1/test";
    for schema in [
        "Upper",
        "has-dash",
        "1digit",
        "",
        "pg_catalog",
        "a; DROP TABLE users",
    ] {
        let result = Store::open_postgres_in_schema(pg, schema).await;
        assert!(
            matches!(result, Err(StoreError::BadUrl(_))),
            "{schema:?}: {result:?}"
        );
    }
    let result = Store::open_postgres_in_schema("sqlite://x.db", "ok").await;
    assert!(matches!(result, Err(StoreError::BadUrl(_))), "{result:?}");
}

#[tokio::test]
async fn unreachable_databases_are_unavailable_quickly() {
    let started = Instant::now();
    for result in [
        Store::open("postgres://postgres@127.0.0.1:1/test").await,
        Store::open_postgres_in_schema("postgresql://postgres@127.0.0.1:1/test", "s").await,
    ] {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    // A SQLite path whose "directory" is a file cannot be opened.
    let dir = TempDir::new();
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let result = Store::open(&dir.sqlite_url("file/app.db")).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let dir = TempDir::new();
    let store = Store::open(&dir.sqlite_url("app.db")).await.unwrap();
    store.ping().await.unwrap();
    let clone = store.clone();
    store.close().await;
    let result = clone.ping().await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn postgres_reopen_keeps_data_and_schema() {
    with_postgres(
        "open::postgres_reopen_keeps_data_and_schema",
        |target| async move {
            let first = target.open().await;
            assert_eq!(first.backend(), Backend::Postgres);
            reopen_sees_data(&first, target.open()).await;

            let mut conn = target.raw().await;
            let sql = format!(
                "SELECT count(*) FROM {}.switchboard_migrations",
                target.schema
            );
            let (n,): (i64,) = sqlx::query_as(&sql).fetch_one(&mut conn).await.unwrap();
            assert_eq!(n, 4, "one row per migration");
            // Nothing leaked into the default schema.
            let (n,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
            )
            .bind(&target.schema)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            assert_eq!(
                n, 10,
                "users, sessions, login_failures, job_runs, request_counts, request_latency, \
                 posts, feed_events, feed_pruned, switchboard_migrations"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn postgres_survives_concurrent_first_opens() {
    with_postgres(
        "open::postgres_survives_concurrent_first_opens",
        |target| async move {
            let stores = open_concurrently(&target.url, Some(&target.schema)).await;
            stores[1]
                .create_user("ann", "h", Role::User, t(0))
                .await
                .unwrap();
            for store in &stores {
                assert_eq!(store.count_users().await.unwrap(), 1);
                store.close().await;
            }
        },
    )
    .await;
}

#[tokio::test]
async fn postgres_missing_database_is_unavailable() {
    with_postgres(
        "open::postgres_missing_database_is_unavailable",
        |target| async move {
            let Some((server, _db)) = target.url.rsplit_once('/') else {
                panic!("cannot find the database name in {:?}", target.url)
            };
            let result = Store::open(&format!("{server}/switchboard_no_such_database")).await;
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{result:?}"
            );
        },
    )
    .await;
}

/// The application awaits the store inside spawned tasks and axum handlers, which need `Send`
/// futures. This is checked when the test compiles; running it is a formality.
#[test]
fn futures_are_send() {
    fn is_send<T: Send>(_: T) {}
    fn methods(store: Store) {
        let (name, hash) = (String::from("ann"), token(1));
        is_send(async move {
            let _ = store.create_user(&name, &name, Role::User, t(0)).await;
            let _ = store.credentials(&name).await;
            let _ = store.set_password(1, &name).await;
            let _ = store.create_session(&hash, 1, t(0), t(1)).await;
            let _ = store.touch_session(&hash, t(0), t(0)).await;
            let _ = store
                .record_login_failure(&name, t(0), Duration::ZERO)
                .await;
        });
    }
    let url = String::from("sqlite://x.db");
    is_send(async move {
        let _ = Store::open(&url).await;
        let _ = Store::open_postgres_in_schema(&url, &url).await;
    });
    let _ = methods as fn(Store);
}
