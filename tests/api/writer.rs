//! SQLite's writer thread: writes queued together commit together, yet each one stands alone —
//! a failing or panicking write is rolled back and answered as failed, the others commit, and
//! the writer goes on serving.
use diesel::RunQueryDsl;
use portcullis::db::{self, AnyConnection, DbError};

fn insert(conn: &mut AnyConnection, n: i32) -> Result<(), DbError> {
    diesel::sql_query(format!("INSERT INTO writer_probe (n) VALUES ({n})")).execute(conn)?;
    Ok(())
}

fn count(conn: &mut AnyConnection) -> Result<Vec<i32>, DbError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        n: i32,
    }
    let rows: Vec<Row> = diesel::sql_query("SELECT n FROM writer_probe ORDER BY n").load(conn)?;
    Ok(rows.into_iter().map(|r| r.n).collect())
}

#[actix_web::test]
async fn a_failed_or_panicking_write_is_rolled_back_alone_and_the_writer_goes_on() {
    let file = std::env::temp_dir().join(format!("portcullis-writer-{}.db", portcullis::ids::new_id()));
    let url = db::DatabaseUrl::parse(&format!("sqlite://{}", file.display())).unwrap();
    let pool = db::build_pool(&url, 4).unwrap();
    db::run(&pool, |conn| {
        db::run_migrations(conn).expect("migrations apply");
        diesel::sql_query("CREATE TABLE writer_probe (n INTEGER NOT NULL)").execute(conn).map_err(DbError::from)
    })
    .await
    .unwrap();

    // Forty writes at once (they commit in a few batches); every third fails after its insert.
    let writes = (0..40).map(|n| {
        let pool = pool.clone();
        async move {
            db::write(&pool, move |conn| {
                insert(conn, n)?;
                if n % 3 == 0 {
                    return Err(DbError::Query(diesel::result::Error::RollbackTransaction));
                }
                Ok(())
            })
            .await
        }
    });
    let outcomes = futures::future::join_all(writes).await;
    for (n, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.is_err(), n % 3 == 0, "write {n}: {outcome:?}");
    }
    let good: Vec<i32> = (0..40).filter(|n| n % 3 != 0).collect();
    assert_eq!(db::run(&pool, count).await.unwrap(), good, "the failed writes were rolled back alone");

    // A write that panics is answered as failed and leaves nothing; the writer goes on.
    let panicked = db::write(&pool, |conn| -> Result<(), DbError> {
        insert(conn, 1000)?;
        panic!("a bug in one write")
    })
    .await;
    assert!(panicked.is_err());
    db::write(&pool, |conn| insert(conn, 1001)).await.unwrap();
    let stored = db::run(&pool, count).await.unwrap();
    assert!(!stored.contains(&1000) && stored.contains(&1001), "{stored:?}");
    let _ = std::fs::remove_file(&file);
}
