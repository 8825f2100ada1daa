//! Accounts: creation, case-insensitive names, lookups, pages, password changes, deletion.

use switchboard_store::{Role, Store, StoreError};

use crate::util::{t, token};

const HOUR: i64 = 3_600_000;

both_backends!(
    create_and_look_up,
    list_in_pages,
    set_password_revokes_sessions,
    delete_user_cascades
);

async fn create_and_look_up(store: &Store) {
    let ann = store
        .create_user("Ann", "hash-ann", Role::User, t(0))
        .await
        .unwrap();
    assert_eq!(
        (ann.username.as_str(), ann.role, ann.created_at),
        ("Ann", Role::User, t(0))
    );
    assert_eq!(store.user_by_id(ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(store.user_by_id(ann.id + 1000).await.unwrap(), None);

    for name in ["Ann", "ann", "ANN"] {
        let (user, hash) = store.credentials(name).await.unwrap().unwrap();
        assert_eq!(
            (user, hash.as_str()),
            (ann.clone(), "hash-ann"),
            "looking up {name}"
        );
    }
    assert_eq!(store.credentials("anne").await.unwrap(), None);

    for duplicate in ["Ann", "ann", "aNN"] {
        let err = store
            .create_user(duplicate, "hash-other", Role::Admin, t(1))
            .await
            .unwrap_err();
        assert_eq!(err, StoreError::UsernameTaken, "creating {duplicate}");
        assert!(!err.to_string().contains("hash-other"));
    }

    let root = store
        .create_user("root", "hash-root", Role::Admin, t(2))
        .await
        .unwrap();
    assert!(root.id > ann.id);
    assert_eq!(
        store.user_by_id(root.id).await.unwrap().unwrap().role,
        Role::Admin
    );

    // Case folding is Unicode's, not just ASCII's.
    let emile = store
        .create_user("Émile", "hash-e", Role::User, t(3))
        .await
        .unwrap();
    assert_eq!(store.credentials("éMILE").await.unwrap().unwrap().0, emile);
    assert_eq!(
        store
            .create_user("ÉMILE", "hash-e2", Role::User, t(4))
            .await,
        Err(StoreError::UsernameTaken)
    );
    assert_eq!(store.count_users().await.unwrap(), 3);
}

async fn list_in_pages(store: &Store) {
    assert!(store.list_users(10, None).await.unwrap().is_empty());
    let mut ids = Vec::new();
    for i in 0..25 {
        let name = format!("user{i:02}");
        let role = if i % 5 == 0 { Role::Admin } else { Role::User };
        ids.push(
            store
                .create_user(&name, &format!("secret-hash-{i}"), role, t(i))
                .await
                .unwrap()
                .id,
        );
    }
    assert_eq!(store.count_users().await.unwrap(), 25);

    let (mut seen, mut sizes, mut after) = (Vec::new(), Vec::new(), None);
    loop {
        let page = store.list_users(10, after).await.unwrap();
        if page.is_empty() {
            break;
        }
        // A listed user carries no password hash: not in the type, not in its Debug form.
        assert!(!format!("{page:?}").contains("secret-hash"));
        sizes.push(page.len());
        after = page.last().map(|u| u.id);
        seen.extend(page.iter().map(|u| u.id));
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(seen, ids);

    let all = store.list_users(100, None).await.unwrap();
    assert_eq!(all.len(), 25);
    assert_eq!(
        (all[0].username.as_str(), all[0].role, all[0].created_at),
        ("user00", Role::Admin, t(0))
    );
    assert_eq!(all[1].role, Role::User);
    assert!(store.list_users(0, None).await.unwrap().is_empty());
    assert!(store.list_users(5, Some(ids[24])).await.unwrap().is_empty());
    let middle: Vec<_> = store
        .list_users(3, Some(ids[9]))
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(middle, ids[10..13]);
}

async fn set_password_revokes_sessions(store: &Store) {
    let ann = store
        .create_user("ann", "old-hash", Role::User, t(0))
        .await
        .unwrap();
    let bob = store
        .create_user("bob", "bob-hash", Role::User, t(0))
        .await
        .unwrap();
    store
        .create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap();
    store
        .create_session(&token(2), ann.id, t(0), t(HOUR))
        .await
        .unwrap();
    store
        .create_session(&token(3), bob.id, t(0), t(HOUR))
        .await
        .unwrap();

    assert!(store.set_password(ann.id, "new-hash").await.unwrap());
    assert_eq!(
        store.credentials("ann").await.unwrap().unwrap().1,
        "new-hash"
    );
    assert_eq!(
        store.touch_session(&token(1), t(10), t(0)).await.unwrap(),
        None
    );
    assert_eq!(
        store.touch_session(&token(2), t(10), t(0)).await.unwrap(),
        None
    );
    let (_, user) = store
        .touch_session(&token(3), t(10), t(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user, bob);
    assert_eq!(
        store.credentials("bob").await.unwrap().unwrap().1,
        "bob-hash"
    );

    assert!(!store.set_password(987_654_321, "whatever").await.unwrap());
    assert_eq!(store.count_active_sessions(t(10), t(0)).await.unwrap(), 1);
}

async fn delete_user_cascades(store: &Store) {
    let ann = store
        .create_user("ann", "h", Role::User, t(0))
        .await
        .unwrap();
    let bob = store
        .create_user("bob", "h", Role::User, t(0))
        .await
        .unwrap();
    store
        .create_session(&token(1), ann.id, t(0), t(HOUR))
        .await
        .unwrap();
    store
        .create_session(&token(2), ann.id, t(0), t(HOUR))
        .await
        .unwrap();
    store
        .create_session(&token(3), bob.id, t(0), t(HOUR))
        .await
        .unwrap();

    assert!(store.delete_user(ann.id, t(1)).await.unwrap());
    assert!(!store.delete_user(ann.id, t(1)).await.unwrap());
    assert_eq!(store.user_by_id(ann.id).await.unwrap(), None);
    assert_eq!(store.credentials("ann").await.unwrap(), None);
    assert_eq!(
        store.touch_session(&token(1), t(1), t(0)).await.unwrap(),
        None
    );
    assert_eq!(store.count_active_sessions(t(1), t(0)).await.unwrap(), 1);
    assert_eq!(store.count_users().await.unwrap(), 1);

    // The name is free again; the id is not reused.
    let ann2 = store
        .create_user("Ann", "h", Role::User, t(5))
        .await
        .unwrap();
    assert!(ann2.id > bob.id);
}
