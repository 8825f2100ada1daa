//! Login throttling: a sliding window of failures per key.

use std::time::Duration;

use switchboard_store::Store;

use crate::util::t;

const WINDOW: Duration = Duration::from_secs(60);
const S: i64 = 1000;

both_backends!(sliding_window, keys_are_independent_and_prunable);

async fn sliding_window(store: &Store) {
    let key = "user:ann";
    assert_eq!(
        store.login_failures(key, t(0), WINDOW).await.unwrap(),
        (0, None)
    );

    assert_eq!(
        store.record_login_failure(key, t(0), WINDOW).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .record_login_failure(key, t(10 * S), WINDOW)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .record_login_failure(key, t(20 * S), WINDOW)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store.login_failures(key, t(30 * S), WINDOW).await.unwrap(),
        (3, Some(t(20 * S)))
    );

    // The failure at 0 leaves the window after 60 s; the one at 10 s, at 70 s exactly.
    assert_eq!(
        store.login_failures(key, t(65 * S), WINDOW).await.unwrap(),
        (2, Some(t(20 * S)))
    );
    assert_eq!(
        store.login_failures(key, t(70 * S), WINDOW).await.unwrap(),
        (1, Some(t(20 * S)))
    );
    assert_eq!(
        store
            .record_login_failure(key, t(75 * S), WINDOW)
            .await
            .unwrap(),
        2
    );
    // Two failures in the same millisecond both count.
    assert_eq!(
        store
            .record_login_failure(key, t(75 * S), WINDOW)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store.login_failures(key, t(76 * S), WINDOW).await.unwrap(),
        (3, Some(t(75 * S)))
    );
    assert_eq!(
        store.login_failures(key, t(200 * S), WINDOW).await.unwrap(),
        (0, None)
    );

    store.clear_login_failures(key).await.unwrap();
    assert_eq!(
        store.login_failures(key, t(76 * S), WINDOW).await.unwrap(),
        (0, None)
    );
    assert_eq!(
        store
            .record_login_failure(key, t(77 * S), WINDOW)
            .await
            .unwrap(),
        1
    );
}

async fn keys_are_independent_and_prunable(store: &Store) {
    for _ in 0..3 {
        store
            .record_login_failure("user:ann", t(0), WINDOW)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .record_login_failure("ip:127.0.0.1", t(S), WINDOW)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .login_failures("user:bob", t(S), WINDOW)
            .await
            .unwrap(),
        (0, None)
    );

    store.clear_login_failures("ip:127.0.0.1").await.unwrap();
    assert_eq!(
        store
            .login_failures("user:ann", t(S), WINDOW)
            .await
            .unwrap()
            .0,
        3
    );

    store
        .record_login_failure("ip:10.0.0.1", t(100 * S), WINDOW)
        .await
        .unwrap();
    assert_eq!(store.prune_login_failures(t(40 * S)).await.unwrap(), 3);
    assert_eq!(
        store
            .login_failures("user:ann", t(S), WINDOW)
            .await
            .unwrap(),
        (0, None)
    );
    assert_eq!(
        store
            .login_failures("ip:10.0.0.1", t(100 * S), WINDOW)
            .await
            .unwrap()
            .0,
        1
    );
}
