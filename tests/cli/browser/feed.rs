//! The feed's page in a browser: a post through one server showing live on another's page,
//! and a page coming back from behind the pruned events loading its posts again.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{json, Value};
use switchboard_testkit::{ChildServer, PgDatabase};

use super::{programs, Browser};
use crate::{cli, start_serve};

/// `serve` named `name` on the PostgreSQL database at `url`, on a port the system picks.
async fn serve_on(url: &str, name: &str) -> ChildServer {
    cli()
        .spawn_server(
            &[
                "serve",
                "--name",
                name,
                "--database",
                url,
                "--listen",
                "127.0.0.1:0",
            ],
            "application server listening",
        )
        .await
}

/// Signs up as `name` on `site` and opens the feed, waiting until it is live.
async fn on_the_feed(browser: &Browser, site: &str, name: &str) {
    let c = browser.client();
    c.goto(&format!("{site}/")).await.expect("open the site");
    browser.fill("#signup", name, "correct horse battery").await;
    browser
        .until(
            "the profile after signing up",
            "return location.pathname === '/profile'",
        )
        .await;
    c.goto(&format!("{site}/feed"))
        .await
        .expect("open the feed");
    browser
        .until(
            "the feed live",
            "return document.body.dataset.live === 'yes'",
        )
        .await;
}

/// Two people on the feed, each through a server of their own (two `serve` on one PostgreSQL
/// database when `SWITCHBOARD_TEST_POSTGRES` is set; else both on one server over SQLite):
/// one posts, and the other's page shows it within a second, without reloading; deleted, it
/// goes from the other's page too.
#[tokio::test]
async fn a_post_shows_up_live_on_another_servers_page() {
    let Some(programs) = programs("a_post_shows_up_live_on_another_servers_page") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("switchboard_browser_feed_{}", fastrand::u32(..)));
    let db = match std::env::var_os("SWITCHBOARD_TEST_POSTGRES") {
        Some(_) => PgDatabase::create("a_post_shows_up_live_on_another_servers_page"),
        None => {
            eprintln!(
                "SWITCHBOARD_TEST_POSTGRES is not set: both browsers use one server, on SQLite"
            );
            None
        }
    };
    let servers = match &db {
        Some(db) => vec![
            serve_on(&db.url, "server-a").await,
            serve_on(&db.url, "server-b").await,
        ],
        None => vec![start_serve("server-a", &dir.join("data")).await],
    };
    let site_a = format!("http://{}", servers[0].addr);
    let site_b = format!("http://{}", servers[servers.len() - 1].addr);
    let (ann, bob) = (
        Browser::start(&programs).await,
        Browser::start(&programs).await,
    );
    on_the_feed(&ann, &site_a, "ann").await;
    on_the_feed(&bob, &site_b, "bob").await;
    bob.client()
        .execute("window.notReloaded = true; return true", vec![])
        .await
        .expect("mark the page");

    let message = format!("hello from server-a, {}", fastrand::u32(..));
    let c = ann.client();
    c.find(Locator::Id("text"))
        .await
        .expect("the text box")
        .send_keys(&message)
        .await
        .expect("type");
    c.find(Locator::Css("#post-form button[type=submit]"))
        .await
        .expect("post button")
        .click()
        .await
        .expect("click");
    let posted = tokio::time::Instant::now();
    let shows = format!(
        "return [...document.querySelectorAll('#posts li p')].some((p) => p.textContent === {message:?})"
    );
    loop {
        let seen = bob.client().execute(&shows, vec![]).await;
        if matches!(seen, Ok(Value::Bool(true))) {
            break;
        }
        assert!(
            posted.elapsed() < Duration::from_secs(1),
            "bob's page did not show the post within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waited = posted.elapsed();
    eprintln!("the post showed on the other page after {waited:?}");
    let still = bob
        .client()
        .execute("return window.notReloaded === true", vec![])
        .await;
    assert!(matches!(still, Ok(Value::Bool(true))), "the page reloaded");
    ann.until("ann's own post", &shows).await;
    ann.screenshot("feed.png").await;
    // Bob may not delete ann's posts, so his page offers no button.
    let buttons = bob
        .client()
        .execute(
            "return document.querySelectorAll('#posts .delete').length",
            vec![],
        )
        .await
        .expect("count buttons");
    assert_eq!(buttons, json!(0));

    // The author deletes it; it goes from the other page.
    c.find(Locator::Css("#posts li .delete"))
        .await
        .expect("a delete button on ann's post")
        .click()
        .await
        .expect("click");
    bob.until("the post gone", &format!("return !(() => {{ {shows} }})()"))
        .await;

    ann.close().await;
    bob.close().await;
    for server in servers {
        server.signal("TERM").await;
        let (status, rest) = server.wait(Duration::from_secs(30)).await;
        assert!(status.success(), "{status:?}: {rest}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A page that comes back from further behind than the events kept (its server down
/// meanwhile, a post made, and every event pruned, as the clean-up job does past the
/// retention) is told so by a `reset` and loads the posts again, without a reload of the
/// page, rather than missing the post.
#[tokio::test]
async fn the_feed_page_catches_up_after_its_events_were_pruned() {
    let test = "the_feed_page_catches_up_after_its_events_were_pruned";
    let Some(programs) = programs(test) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("switchboard_browser_reset_{}", fastrand::u32(..)));
    let data = dir.join("data");
    let server = start_serve("server-a", &data).await;
    let addr = server.addr.to_string();
    let ann = Browser::start(&programs).await;
    on_the_feed(&ann, &format!("http://{addr}"), "ann").await;
    ann.client()
        .execute("window.notReloaded = true; return true", vec![])
        .await
        .expect("mark the page");
    server.signal("TERM").await;
    let (status, rest) = server.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}: {rest}");
    ann.until(
        "the page offline",
        "return document.body.dataset.live === 'no'",
    )
    .await;

    let url = format!("sqlite://{}", data.join("switchboard.db").display());
    let store = switchboard_store::Store::open(&url)
        .await
        .expect("the server's file");
    let (user, _) = store.credentials("ann").await.unwrap().expect("ann");
    let now = switchboard_store::Timestamp::from_system_time(std::time::SystemTime::now());
    let limit = switchboard_store::PostLimit {
        posts: 10,
        window: Duration::from_secs(60),
    };
    let message = format!("made while the page was away, {}", fastrand::u32(..));
    store
        .create_post(user.id, &message, now, limit)
        .await
        .unwrap();
    let later = now.saturating_add(Duration::from_secs(3600));
    assert_eq!(store.prune_feed_events_batch(later, 100).await.unwrap(), 1);
    store.close().await;

    let server = cli()
        .spawn_server(
            &[
                "serve",
                "--name",
                "server-a",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                &addr,
            ],
            "application server listening",
        )
        .await;
    ann.until(
        "the post made while it was away",
        &format!(
            "return [...document.querySelectorAll('#posts li p')].some((p) => p.textContent === {message:?})"
        ),
    )
    .await;
    ann.until(
        "the feed live again",
        "return document.body.dataset.live === 'yes'",
    )
    .await;
    let still = ann
        .client()
        .execute("return window.notReloaded === true", vec![])
        .await;
    assert!(matches!(still, Ok(Value::Bool(true))), "the page reloaded");
    ann.close().await;
    server.signal("TERM").await;
    let (status, rest) = server.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}: {rest}");
    let _ = std::fs::remove_dir_all(&dir);
}
