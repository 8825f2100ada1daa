//! Sessions: touching, absolute expiry, idle timeout, deletion, counting.

use switchboard_store::{Role, SessionInfo, Store, StoreError, User};

use crate::util::{t, token};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

both_backends!(
    touch_returns_session_and_user,
    absolute_expiry,
    idle_cutoff,
    delete_sessions,
    janitor_and_count,
    bad_sessions_are_errors,
);

async fn ann(store: &Store) -> User {
    store
        .create_user("ann", "hash", Role::User, t(0))
        .await
        .unwrap()
}

async fn touch_returns_session_and_user(store: &Store) {
    let ann = ann(store).await;
    store
        .create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap();

    let (session, user) = store
        .touch_session(&token(1), t(1000), t(0))
        .await
        .unwrap()
        .unwrap();
    let expected = SessionInfo {
        user_id: ann.id,
        created_at: t(0),
        last_seen_at: t(1000),
        expires_at: t(HOUR),
    };
    assert_eq!((session, user), (expected, ann.clone()));

    // Another process with a slower clock does not move last_seen_at backwards.
    let (session, _) = store
        .touch_session(&token(1), t(500), t(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.last_seen_at, t(1000));
    let (session, _) = store
        .touch_session(&token(1), t(2000), t(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.last_seen_at, t(2000));

    assert_eq!(
        store.touch_session(&token(9), t(2000), t(0)).await.unwrap(),
        None
    );
}

async fn absolute_expiry(store: &Store) {
    let ann = ann(store).await;
    store
        .create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap();

    // Alive up to the last millisecond before expires_at, however active.
    assert!(store
        .touch_session(&token(1), t(HOUR - 1), t(0))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .touch_session(&token(1), t(HOUR), t(HOUR - 2))
            .await
            .unwrap(),
        None
    );
    // Found dead, it was deleted: even an earlier clock cannot bring it back.
    assert_eq!(
        store
            .touch_session(&token(1), t(HOUR - 1), t(0))
            .await
            .unwrap(),
        None
    );
    assert!(!store.delete_session(&token(1)).await.unwrap());
}

async fn idle_cutoff(store: &Store) {
    let ann = ann(store).await;
    let idle = 30 * MINUTE;
    store
        .create_session(&token(1), ann.id, t(0), t(24 * HOUR))
        .await
        .unwrap();

    // Last seen exactly at the cutoff still counts as active.
    let (session, _) = store
        .touch_session(&token(1), t(idle), t(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.last_seen_at, t(idle));
    assert_eq!(store.count_active_sessions(t(idle), t(0)).await.unwrap(), 1);

    // Idle for longer than the timeout: refused and deleted.
    assert_eq!(
        store
            .touch_session(&token(1), t(3 * idle), t(2 * idle))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .touch_session(&token(1), t(idle + 1), t(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.count_active_sessions(t(idle), t(0)).await.unwrap(), 0);
}

async fn delete_sessions(store: &Store) {
    let ann = ann(store).await;
    let bob = store
        .create_user("bob", "hash", Role::User, t(0))
        .await
        .unwrap();
    for n in 1..=3 {
        store
            .create_session(&token(n), ann.id, t(0), t(HOUR))
            .await
            .unwrap();
    }
    store
        .create_session(&token(4), bob.id, t(0), t(HOUR))
        .await
        .unwrap();

    assert!(store.delete_session(&token(1)).await.unwrap());
    assert!(!store.delete_session(&token(1)).await.unwrap());
    assert_eq!(
        store.touch_session(&token(1), t(1), t(0)).await.unwrap(),
        None
    );

    assert_eq!(store.delete_user_sessions(ann.id).await.unwrap(), 2);
    assert_eq!(store.delete_user_sessions(ann.id).await.unwrap(), 0);
    assert_eq!(
        store.touch_session(&token(2), t(1), t(0)).await.unwrap(),
        None
    );
    assert!(store
        .touch_session(&token(4), t(1), t(0))
        .await
        .unwrap()
        .is_some());
    // Deleting sessions leaves the user alone.
    assert_eq!(store.user_by_id(ann.id).await.unwrap(), Some(ann));
}

async fn janitor_and_count(store: &Store) {
    let ann = ann(store).await;
    let (now, cutoff) = (t(6000), t(1000));
    store
        .create_session(&token(1), ann.id, t(0), t(100))
        .await
        .unwrap(); // expires before now
    store
        .create_session(&token(2), ann.id, t(0), t(10_000))
        .await
        .unwrap(); // idle since 0
    store
        .create_session(&token(3), ann.id, t(0), t(10_000))
        .await
        .unwrap();
    store
        .touch_session(&token(3), t(5000), t(0))
        .await
        .unwrap()
        .unwrap(); // active at 5000
    store
        .create_session(&token(4), ann.id, now, t(10_000))
        .await
        .unwrap(); // brand new

    assert_eq!(
        store.count_active_sessions(t(50), t(-1000)).await.unwrap(),
        4
    );
    assert_eq!(store.count_active_sessions(now, cutoff).await.unwrap(), 2);
    assert_eq!(store.delete_expired_sessions(now, cutoff).await.unwrap(), 2);
    assert_eq!(store.delete_expired_sessions(now, cutoff).await.unwrap(), 0);
    assert_eq!(store.count_active_sessions(now, cutoff).await.unwrap(), 2);
    // The dead ones are gone for good, the live ones untouched.
    assert_eq!(
        store.touch_session(&token(2), t(50), t(0)).await.unwrap(),
        None
    );
    assert!(store
        .touch_session(&token(3), now, cutoff)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .touch_session(&token(4), now, cutoff)
        .await
        .unwrap()
        .is_some());
}

async fn bad_sessions_are_errors(store: &Store) {
    let ann = ann(store).await;
    let err = store
        .create_session(&token(1), ann.id + 1000, t(0), t(HOUR))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");

    store
        .create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap();
    let err = store
        .create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(!err.to_string().contains('\n'));
}
