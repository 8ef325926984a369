//! What clients see when the database fails under a request: a clear `503`, nothing claimed
//! that did not happen, and a pool that recovers.
use diesel::{Connection, RunQueryDsl};
use serde_json::json;

use crate::dual;
use crate::helpers::*;

fn count_users(database_url: &str, username: &str) -> i64 {
    use diesel::prelude::*;
    use portcullis::db::schema::users;
    users::table
        .filter(users::username_key.eq(username))
        .count()
        .get_result(&mut direct_connection(database_url))
        .unwrap()
}

dual! {
    async fn a_panic_inside_a_transaction_does_not_poison_the_pool(db: Db) {
        let Some(app) = spawn_app_with(db, &[("DATABASE_POOL_SIZE", "1")]).await else { return };
        let panicked = portcullis::db::run(app.auth.pool(), |conn| {
            conn.transaction::<(), diesel::result::Error, _>(|conn| {
                diesel::sql_query("UPDATE users SET id = id WHERE 1 = 0").execute(conn)?;
                panic!("a bug inside a transaction (expected by this test)");
            })
            .map_err(portcullis::db::DbError::from)
        })
        .await;
        assert!(panicked.is_err());
        // The pool's only connection must not still be inside that transaction: a sign-up
        // through it has to be visible to a connection of our own.
        app.signup(&app.api, "alice").await;
        assert_eq!(count_users(&app.database_url, "alice"), 1, "the sign-up was never committed");
    }

    async fn logout_during_an_outage_says_it_failed_and_keeps_the_cookies(db: Db) {
        let Some((app, switch)) = spawn_app_with_switch(db, &[]).await else { return };
        assert_eq!(app.form_signup("alice").await.status(), StatusCode::SEE_OTHER);
        let csrf = app.page_csrf("/dashboard").await;
        let (_, refresh) = app.session("alice").await;

        switch.down();
        let page = app.post_form("/auth/logout", &[("csrf_token", &csrf)]).await;
        let json = app.post_json(&app.api, "/auth/logout", json!({"refresh_token": refresh})).await;
        switch.up();
        app.wait_until_healthy().await;

        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(set_cookie(&page, "refresh_token").is_none(), "a failed logout must keep the refresh cookie");
        assert!(page.text().await.unwrap().contains("not signed out"), "the page says the logout failed");
        assert_error(json, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

        // Once the database is back, the same browser signs out for real.
        let page = app.post_form("/auth/logout", &[("csrf_token", &csrf)]).await;
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
        assert_eq!(set_cookie(&page, "refresh_token").as_deref(), Some(""));
        let dashboard = app.browser.get(app.url("/dashboard")).send().await.unwrap();
        assert_eq!(dashboard.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.refresh_with_body(&refresh).await.status(), StatusCode::OK, "the JSON session was not ended");
    }

    async fn a_write_that_loses_its_database_is_unavailable_not_an_internal_error(db: Db) {
        let Some((app, switch)) = spawn_app_with_switch(db, &[]).await else { return };
        let (access, _) = {
            app.signup(&app.api, "alice").await;
            app.session("alice").await
        };
        let response = match db {
            // SQLite: another writer holds the lock past the busy timeout.
            Db::Sqlite => {
                switch.down();
                let response = app.api.post(app.url("/auth/logout-all")).bearer_auth(&access).send().await.unwrap();
                switch.up();
                response
            }
            // PostgreSQL: the connection drops while the query waits on a row lock.
            Db::Postgres => {
                let direct = switch.direct_url.clone();
                let (release, wait) = std::sync::mpsc::channel::<()>();
                let (locked, is_locked) = std::sync::mpsc::channel::<()>();
                let holder = std::thread::spawn(move || {
                    use diesel::connection::SimpleConnection;
                    let mut conn = diesel::PgConnection::establish(&direct).unwrap();
                    conn.batch_execute("BEGIN; UPDATE users SET id = id WHERE username_key = 'alice';").unwrap();
                    locked.send(()).unwrap();
                    let _ = wait.recv();
                    let _ = conn.batch_execute("ROLLBACK;");
                });
                is_locked.recv().unwrap();
                let request = app.api.post(app.url("/auth/logout-all")).bearer_auth(&access).send();
                let cutter = async {
                    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
                    switch.cut();
                };
                let (response, ()) = futures::join!(request, cutter);
                release.send(()).unwrap();
                holder.join().unwrap();
                response.unwrap()
            }
        };
        assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        // And the app serves again once the database is back.
        assert_eq!(app.login(&app.api, "alice").await.status(), StatusCode::OK);
    }
}
