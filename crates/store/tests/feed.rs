//! The feed: posts, paging, who may delete, the rate limit, and the events readers replay,
//! with ids that never commit out of order, and (PostgreSQL) the listener that wakes on
//! another store's commit.

use std::collections::BTreeSet;
use std::time::Duration;

use switchboard_store::{Deleted, FeedEventKind, PostLimit, Posted, Role, Store};

use crate::util::{t, with_postgres, TempDir};

const S: i64 = 1000;
const LIMIT: PostLimit = PostLimit {
    posts: 10,
    window: Duration::from_secs(60),
};
const UNLIMITED: PostLimit = PostLimit {
    posts: u32::MAX,
    window: Duration::from_secs(60),
};

both_backends!(
    posts_pages_and_deletes,
    posts_per_minute_are_limited,
    deleting_a_user_announces_each_post_gone,
    posts_at_once_stay_within_the_limit
);

async fn post(store: &Store, author: i64, text: &str, at: i64) -> (i64, i64) {
    match store
        .create_post(author, text, t(at), UNLIMITED)
        .await
        .unwrap()
    {
        Posted::Created { post, event_id } => (post.id, event_id),
        other => panic!("not created: {other:?}"),
    }
}

async fn posts_pages_and_deletes(store: &Store) {
    assert_eq!(store.last_feed_event().await.unwrap(), 0);
    assert!(store.feed_events_after(0, 10).await.unwrap().is_empty());
    let ann = store
        .create_user("Ann", "h", Role::User, t(0))
        .await
        .unwrap();
    let bob = store
        .create_user("bob", "h", Role::User, t(0))
        .await
        .unwrap();
    let root = store
        .create_user("root", "h", Role::Admin, t(0))
        .await
        .unwrap();

    let mut ids = Vec::new();
    for i in 0..5 {
        let author = if i % 2 == 0 { &ann } else { &bob };
        ids.push(post(store, author.id, &format!("hello {i} ✓"), i * S).await);
    }
    let first = store.post(ids[0].0).await.unwrap().unwrap();
    assert_eq!(first.author, "Ann");
    assert_eq!(first.author_id, ann.id);
    assert_eq!(first.text, "hello 0 ✓");
    assert_eq!(first.created_at, t(0));

    // Newest first, paged by id.
    let page = store.list_posts(None, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|p| p.id).collect::<Vec<_>>(),
        [ids[4].0, ids[3].0]
    );
    let next = store.list_posts(Some(page[1].id), 10).await.unwrap();
    assert_eq!(
        next.iter().map(|p| p.id).collect::<Vec<_>>(),
        [ids[2].0, ids[1].0, ids[0].0]
    );
    assert!(store
        .list_posts(Some(ids[0].0), 10)
        .await
        .unwrap()
        .is_empty());

    // The author may delete; someone else may not; an admin may; a missing post is missing.
    assert_eq!(
        store
            .delete_post(ids[0].0, bob.id, false, t(10 * S))
            .await
            .unwrap(),
        Deleted::NotAllowed
    );
    let Deleted::Deleted { event_id: gone } = store
        .delete_post(ids[0].0, ann.id, false, t(10 * S))
        .await
        .unwrap()
    else {
        panic!("the author could not delete");
    };
    assert_eq!(
        store
            .delete_post(ids[0].0, ann.id, false, t(10 * S))
            .await
            .unwrap(),
        Deleted::NotFound
    );
    assert!(matches!(
        store
            .delete_post(ids[1].0, root.id, true, t(11 * S))
            .await
            .unwrap(),
        Deleted::Deleted { .. }
    ));
    assert!(store.post(ids[0].0).await.unwrap().is_none());
    assert_eq!(store.list_posts(None, 10).await.unwrap().len(), 3);

    // The events, in order: five posts, two deletions. A deleted post's event has no post.
    let events = store.feed_events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 7);
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(store.last_feed_event().await.unwrap(), events[6].id);
    for (event, (post_id, event_id)) in events.iter().zip(&ids) {
        assert_eq!(event.kind, FeedEventKind::Post);
        assert_eq!((event.post_id, event.id), (*post_id, *event_id));
    }
    assert_eq!(events[0].post, None, "deleted since");
    assert_eq!(events[4].post.as_ref().unwrap().text, "hello 4 ✓");
    assert_eq!(events[5].kind, FeedEventKind::Delete);
    assert_eq!((events[5].id, events[5].post_id), (gone, ids[0].0));
    assert_eq!(events[6].post_id, ids[1].0);
    assert_eq!(events[6].post, None);

    // Paged from any point.
    let after = store.feed_events_after(events[2].id, 2).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.id).collect::<Vec<_>>(),
        [events[3].id, events[4].id]
    );

    // An unknown author is an error, and writes nothing.
    assert!(store.create_post(9999, "x", t(0), LIMIT).await.is_err());
    assert_eq!(store.feed_events_after(0, 100).await.unwrap().len(), 7);

    // Deleting the account deletes its posts.
    assert!(store.delete_user(bob.id, t(12 * S)).await.unwrap());
    assert!(store
        .list_posts(None, 10)
        .await
        .unwrap()
        .iter()
        .all(|p| p.author_id == ann.id));
}

async fn posts_per_minute_are_limited(store: &Store) {
    let ann = store
        .create_user("ann", "h", Role::User, t(0))
        .await
        .unwrap();
    let bob = store
        .create_user("bob", "h", Role::User, t(0))
        .await
        .unwrap();
    let mut made = Vec::new();
    for i in 0..10 {
        match store
            .create_post(ann.id, "hi", t(i * S), LIMIT)
            .await
            .unwrap()
        {
            Posted::Created { post, .. } => made.push(post.id),
            other => panic!("post {i}: {other:?}"),
        }
    }
    // The eleventh waits until the first (at 0 s) leaves the window, at 60 s.
    assert_eq!(
        store
            .create_post(ann.id, "hi", t(15 * S), LIMIT)
            .await
            .unwrap(),
        Posted::Throttled {
            retry_after: Duration::from_secs(45)
        }
    );
    // Deleting posts does not make room: the events count.
    store
        .delete_post(made[0], ann.id, false, t(16 * S))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_post(ann.id, "hi", t(16 * S), LIMIT)
            .await
            .unwrap(),
        Posted::Throttled { .. }
    ));
    // Someone else is not held back.
    assert!(matches!(
        store
            .create_post(bob.id, "hi", t(16 * S), LIMIT)
            .await
            .unwrap(),
        Posted::Created { .. }
    ));
    // The window slides: at 60 s the post at 0 s no longer counts, the one at 1 s still does.
    assert!(matches!(
        store
            .create_post(ann.id, "hi", t(60 * S), LIMIT)
            .await
            .unwrap(),
        Posted::Created { .. }
    ));
    assert_eq!(
        store
            .create_post(ann.id, "hi", t(60 * S), LIMIT)
            .await
            .unwrap(),
        Posted::Throttled {
            retry_after: Duration::from_secs(1)
        }
    );
    // Nothing was written by a refused post.
    let posts = store.feed_events_after(0, 100).await.unwrap();
    assert_eq!(
        posts
            .iter()
            .filter(|e| e.kind == FeedEventKind::Post)
            .count(),
        12
    );
}

/// Deleting an account deletes its posts by cascade, and writes a `delete` event for each in
/// the same transaction: a reader replaying from before sees every one go, after the events
/// it had, in order; others' posts and a missing user write nothing.
async fn deleting_a_user_announces_each_post_gone(store: &Store) {
    let ann = store
        .create_user("ann", "h", Role::User, t(0))
        .await
        .unwrap();
    let bob = store
        .create_user("bob", "h", Role::User, t(0))
        .await
        .unwrap();
    let mut bobs = Vec::new();
    for i in 0..3 {
        bobs.push(post(store, bob.id, "bob's", i * S).await.0);
        post(store, ann.id, "ann's", i * S).await;
    }
    let (gone_before, _) = post(store, bob.id, "deleted before", 3 * S).await;
    store
        .delete_post(gone_before, bob.id, false, t(4 * S))
        .await
        .unwrap();
    let before = store.last_feed_event().await.unwrap();

    assert!(store.delete_user(bob.id, t(5 * S)).await.unwrap());
    let events = store.feed_events_after(before, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.kind, e.post_id, e.post.is_some()))
            .collect::<Vec<_>>(),
        bobs.iter()
            .map(|id| (FeedEventKind::Delete, *id, false))
            .collect::<Vec<_>>(),
        "one delete event per post that was left, nothing else"
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(store.last_feed_event().await.unwrap(), events[2].id);
    // A replay from the start has each of Bob's posts and then its deletion: none stays up.
    let all = store.feed_events_after(0, 100).await.unwrap();
    for id in &bobs {
        let made = all.iter().position(|e| e.post_id == *id).unwrap();
        let deleted = all.iter().rposition(|e| e.post_id == *id).unwrap();
        assert_eq!(all[made].kind, FeedEventKind::Post);
        assert_eq!(all[deleted].kind, FeedEventKind::Delete);
        assert!(made < deleted);
    }
    assert_eq!(store.list_posts(None, 10).await.unwrap().len(), 3);

    // A missing user, or one with no posts left, writes no event.
    let last = store.last_feed_event().await.unwrap();
    assert!(!store.delete_user(bob.id, t(6 * S)).await.unwrap());
    let cid = store
        .create_user("cid", "h", Role::User, t(0))
        .await
        .unwrap();
    assert!(store.delete_user(cid.id, t(6 * S)).await.unwrap());
    assert_eq!(store.last_feed_event().await.unwrap(), last);
}

/// One author's posts sent all at once (as from several tabs or servers) are counted one
/// after another: no more than the limit get through.
async fn posts_at_once_stay_within_the_limit(store: &Store) {
    let ann = store
        .create_user("ann", "h", Role::User, t(0))
        .await
        .unwrap();
    let tries: Vec<_> = (0..30)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create_post(ann.id, "hi", t(0), LIMIT).await })
        })
        .collect();
    let mut created = 0;
    for attempt in tries {
        if let Posted::Created { .. } = attempt.await.unwrap().unwrap() {
            created += 1;
        }
    }
    assert_eq!(created, LIMIT.posts);
}

/// Writers on two stores (two processes) and a reader that keeps asking for what came after
/// the last event it saw: the reader ends up with every event, none skipped, because no
/// event id is committed after a greater one.
async fn readers_miss_nothing(a: Store, b: Store) {
    const WRITERS: i64 = 8;
    const EACH: i64 = 15;
    let mut authors = Vec::new();
    for i in 0..WRITERS {
        let user = a
            .create_user(&format!("w{i}"), "h", Role::User, t(0))
            .await
            .unwrap();
        authors.push(user.id);
    }
    let writers: Vec<_> = authors
        .iter()
        .enumerate()
        .map(|(i, &author)| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                for n in 0..EACH {
                    post(&store, author, "x", n).await;
                }
            })
        })
        .collect();
    let reader = {
        let store = b.clone();
        tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            let mut last = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while seen.len() < (WRITERS * EACH) as usize {
                assert!(tokio::time::Instant::now() < deadline, "reader stalled");
                for event in store.feed_events_after(last, 7).await.unwrap() {
                    assert!(event.id > last);
                    last = event.id;
                    seen.insert(event.id);
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    let seen = reader.await.unwrap();
    let all: BTreeSet<i64> = a
        .feed_events_after(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, all);
}

#[tokio::test]
async fn sqlite_readers_miss_nothing() {
    let dir = TempDir::new();
    let url = dir.sqlite_url("app.db");
    let (a, b) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );
    readers_miss_nothing(a.clone(), b.clone()).await;
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn postgres_readers_miss_nothing() {
    with_postgres("feed::postgres_readers_miss_nothing", |target| async move {
        let (a, b) = (target.open().await, target.open().await);
        readers_miss_nothing(a.clone(), b.clone()).await;
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn sqlite_has_no_listener() {
    let dir = TempDir::new();
    let store = Store::open(&dir.sqlite_url("app.db")).await.unwrap();
    assert!(store.feed_listener().await.unwrap().is_none());
    store.close().await;
}

/// A listener on one store wakes when another store on the same schema commits a post or a
/// deletion, and not for one in another schema.
#[tokio::test]
async fn postgres_listener_wakes_on_another_stores_commit() {
    with_postgres(
        "feed::postgres_listener_wakes_on_another_stores_commit",
        |target| async move {
            let (a, b) = (target.open().await, target.open().await);
            let mut listener = a.feed_listener().await.unwrap().expect("a listener");
            let ann = b.create_user("ann", "h", Role::User, t(0)).await.unwrap();
            let patience = Duration::from_secs(5);

            // Another schema's feed is another channel.
            let other = crate::util::PgTarget {
                url: target.url.clone(),
                schema: format!("{}_other", target.schema),
            };
            let elsewhere = other.open().await;
            let zed = elsewhere
                .create_user("zed", "h", Role::User, t(0))
                .await
                .unwrap();
            post(&elsewhere, zed.id, "elsewhere", 0).await;
            assert!(
                tokio::time::timeout(Duration::from_millis(300), listener.changed())
                    .await
                    .is_err(),
                "woken by another schema's feed"
            );
            elsewhere.close().await;
            let mut raw = other.raw().await;
            sqlx::Executor::execute(
                &mut raw,
                sqlx::raw_sql(&format!("DROP SCHEMA {} CASCADE", other.schema)),
            )
            .await
            .unwrap();

            let (id, event) = post(&b, ann.id, "hello", 0).await;
            tokio::time::timeout(patience, listener.changed())
                .await
                .expect("woken in time")
                .unwrap();
            let events = a.feed_events_after(0, 10).await.unwrap();
            assert_eq!(events.iter().map(|e| e.id).collect::<Vec<_>>(), [event]);

            b.delete_post(id, ann.id, false, t(S)).await.unwrap();
            tokio::time::timeout(patience, listener.changed())
                .await
                .expect("woken in time")
                .unwrap();
            let events = a.feed_events_after(event, 10).await.unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, FeedEventKind::Delete);
            a.close().await;
            b.close().await;
        },
    )
    .await;
}

/// Deleting a user through one store wakes a listener on another: the deletions of their
/// posts are notified like any other.
#[tokio::test]
async fn postgres_listener_wakes_when_a_user_is_deleted() {
    with_postgres(
        "feed::postgres_listener_wakes_when_a_user_is_deleted",
        |target| async move {
            let (a, b) = (target.open().await, target.open().await);
            let ann = b.create_user("ann", "h", Role::User, t(0)).await.unwrap();
            let (id, made) = post(&b, ann.id, "hello", 0).await;
            let mut listener = a.feed_listener().await.unwrap().expect("a listener");
            assert!(b.delete_user(ann.id, t(S)).await.unwrap());
            tokio::time::timeout(Duration::from_secs(5), listener.changed())
                .await
                .expect("woken in time")
                .unwrap();
            let events = a.feed_events_after(made, 10).await.unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(
                (events[0].kind, events[0].post_id),
                (FeedEventKind::Delete, id)
            );
            a.close().await;
            b.close().await;
        },
    )
    .await;
}

/// The listener's connection killed (a server restart, a network cut): `changed` returns
/// once it is made again, so the reader catches up from the table, and notifications come
/// again after.
#[tokio::test]
async fn postgres_listener_comes_back_after_its_connection_is_killed() {
    with_postgres(
        "feed::postgres_listener_comes_back_after_its_connection_is_killed",
        |target| async move {
            let (a, b) = (target.open().await, target.open().await);
            let mut listener = a.feed_listener().await.unwrap().expect("a listener");
            let ann = b.create_user("ann", "h", Role::User, t(0)).await.unwrap();
            let mut raw = target.raw().await;
            // This listener's connection, by its channel: other tests run beside this one.
            let killed: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE query = 'LISTEN \"switchboard_feed_' || left(md5($1), 16) || '\"'",
            )
            .bind(&target.schema)
            .fetch_all(&mut raw)
            .await
            .unwrap();
            assert!(
                !killed.is_empty() && killed.iter().all(|k| *k),
                "{killed:?}"
            );
            // Posted while the listener is down: its notification is lost.
            let (_, missed) = post(&b, ann.id, "while down", 0).await;
            // `changed` fails (the connection is gone) or returns once it is back; either way,
            // within a few tries it is back and says so.
            let back = async {
                while listener.changed().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(10), back)
                .await
                .expect("the listener came back");
            assert_eq!(
                a.feed_events_after(0, 10).await.unwrap()[0].id,
                missed,
                "the reader catches up from the table"
            );
            post(&b, ann.id, "after", 0).await;
            tokio::time::timeout(Duration::from_secs(5), async {
                while listener.changed().await.is_err() {}
            })
            .await
            .expect("notified again");
            a.close().await;
            b.close().await;
        },
    )
    .await;
}
