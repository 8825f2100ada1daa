//! Backups taken while the database takes writes, restored into fresh databases; restores
//! refused for non-empty targets and for damaged files, with the target left as it was.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_jobs::{backup, format, restore, Cancel, JobError};
use switchboard_store::{Backend, Role, Store};
use tokio::time::Instant;

use crate::util::{t, usernames, Place};

both_engines!(
    a_backup_under_load_has_every_write_acknowledged_before_it,
    restore_refuses_a_non_empty_target_unless_forced,
    a_damaged_backup_is_refused_and_the_target_left_alone,
);

const WRITERS: usize = 20;

async fn a_backup_under_load_has_every_write_acknowledged_before_it(mut place: Place) {
    let url = place.url();
    let store = Store::open(&url).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            // A client of its own: its own pool, as another process would have.
            let store = Store::open(&url).await.unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("w{w}n{n}");
                store
                    .create_user(&name, "$argon2id$opaque", Role::User, t(n))
                    .await
                    .unwrap();
                acked.lock().unwrap().push((name, Instant::now()));
                n += 1;
            }
            store.close().await;
        }));
    }
    // Writes under way first: more acknowledged than there are writers, however loaded the
    // machine (bounded).
    let waiting = Instant::now();
    while acked.lock().unwrap().len() <= 2 * WRITERS {
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "the writers got nothing acknowledged in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let file = backup::take(&store, &url, &place.backups(), t(0), &Cancel::default())
        .await
        .unwrap();
    let finished = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    store.close().await;
    let acked = acked.lock().unwrap().clone();
    let before: Vec<&String> = acked
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(n, _)| n)
        .collect();
    let during = acked
        .iter()
        .filter(|(_, at)| *at >= started && *at < finished)
        .count();
    assert!(before.len() > WRITERS, "writes before: {}", before.len());
    // A backup of a few milliseconds may fall between two acknowledgements; a longer one
    // must have let writes through.
    assert!(
        during > 0 || finished - started < Duration::from_millis(50),
        "the writers kept writing while the backup ran"
    );

    assert_eq!(file.header.engine, place.backend.to_string());
    assert_eq!(
        file.header.schema_version,
        switchboard_store::latest_schema_version(place.backend)
    );
    assert!(file
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("switchboard-2026-11-22T02-00-00.000Z."));
    let fresh = place.other("restored");
    let restored = restore::restore(&file.path, &fresh, false).await.unwrap();
    assert!(!restored.replaced);
    let users = restored
        .tables
        .iter()
        .find(|(name, _)| name == "users")
        .map(|(_, n)| *n)
        .unwrap();
    assert!(users >= before.len() as u64, "{restored:?}");

    let again = Store::open(&fresh).await.unwrap();
    let names = usernames(&again).await;
    let missing: Vec<_> = before.iter().filter(|n| !names.contains(**n)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, not in it: {missing:?}"
    );
    again.close().await;
    if place.backend == Backend::Sqlite {
        let path = fresh.strip_prefix("sqlite://").unwrap();
        switchboard_store::check_sqlite_file(std::path::Path::new(path))
            .await
            .unwrap();
    }
}

/// A database with one user, `name`.
async fn database_with(url: &str, name: &str) {
    let store = Store::open(url).await.unwrap();
    store
        .create_user(name, "$argon2id$opaque", Role::Admin, t(0))
        .await
        .unwrap();
    store.close().await;
}

async fn names_in(url: &str) -> Vec<String> {
    let store = Store::open(url).await.unwrap();
    let mut names: Vec<String> = usernames(&store).await.into_iter().collect();
    store.close().await;
    names.sort();
    names
}

async fn restore_refuses_a_non_empty_target_unless_forced(mut place: Place) {
    let url = place.url();
    database_with(&url, "ann").await;
    let store = Store::open(&url).await.unwrap();
    let file = backup::take(&store, &url, &place.backups(), t(0), &Cancel::default())
        .await
        .unwrap();
    store.close().await;

    let other = place.other("other");
    database_with(&other, "bob").await;
    let err = restore::restore(&file.path, &other, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, JobError::Refused(_)) && err.to_string().contains("not empty"),
        "{err}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(names_in(&other).await, ["bob"], "untouched");

    let restored = restore::restore(&file.path, &other, true).await.unwrap();
    assert!(restored.replaced);
    assert_eq!(names_in(&other).await, ["ann"], "replaced, not merged");
    assert!(
        restored.tables.contains(&("users".to_owned(), 1)),
        "{restored:?}"
    );
}

async fn a_damaged_backup_is_refused_and_the_target_left_alone(mut place: Place) {
    let url = place.url();
    database_with(&url, "ann").await;
    let store = Store::open(&url).await.unwrap();
    let file = backup::take(&store, &url, &place.backups(), t(0), &Cancel::default())
        .await
        .unwrap();
    store.close().await;
    let good = std::fs::read(&file.path).unwrap();
    let damaged = place.dir.path().join("damaged.backup");

    let target = place.other("target");
    database_with(&target, "bob").await;
    let empty = place.other("empty");
    let mut flipped = good.clone();
    let middle = good.len() / 2;
    flipped[middle] ^= 0x01;
    for (what, bytes) in [
        ("flipped", flipped),
        ("truncated", good[..good.len() - 40].to_vec()),
    ] {
        std::fs::write(&damaged, &bytes).unwrap();
        for (into, force) in [(&target, true), (&empty, false)] {
            let err = restore::restore(&damaged, into, force).await.unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains("checksum mismatch") || message.contains("truncated"),
                "{what}: {message}"
            );
            assert!(!message.contains('\n'), "one line: {message}");
        }
        assert_eq!(names_in(&target).await, ["bob"], "{what}: target untouched");
        if place.backend == Backend::Sqlite {
            let path = empty.strip_prefix("sqlite://").unwrap();
            assert!(!std::path::Path::new(path).exists(), "{what}: nothing made");
            let leftovers: Vec<_> = std::fs::read_dir(place.dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains("partial"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }
    let verified = format::verify(&file.path).unwrap();
    assert_eq!(verified.sha256, file.sha256);
}
