//! The two back ends agree: a fresh SQLite file and a fresh PostgreSQL (a throwaway cluster)
//! migrated by the server have the same migrations, tables, columns, kinds of column,
//! nullability, primary keys and indexes; and the audit log's guards hold on PostgreSQL too.

use std::collections::BTreeSet;

use cipherdrop_server::db::{self, Db};
use cipherdrop_testkit::postgres::Postgres;

/// (table, column, kind, not null, in the primary key), kinds as both back ends mean them.
type Column = (String, String, String, bool, bool);

async fn sqlite_columns(db: &Db) -> BTreeSet<Column> {
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk
         FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(t, c, kind, not_null, pk)| {
            let kind = match kind.as_str() {
                "INTEGER" => "integer",
                "TEXT" => "text",
                "BLOB" => "bytes",
                other => panic!("{t}.{c}: SQLite type {other} has no PostgreSQL twin"),
            };
            // A primary key is never null on PostgreSQL; SQLite only says so for INTEGER keys.
            (t, c, kind.to_owned(), not_null != 0 || pk != 0, pk != 0)
        })
        .collect()
}

async fn postgres_columns(db: &Db) -> BTreeSet<Column> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable::text,
                CAST((SELECT count(*) FROM information_schema.table_constraints tc
                      JOIN information_schema.key_column_usage k
                        ON k.constraint_name = tc.constraint_name
                       AND k.table_name = tc.table_name
                      WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_name = c.table_name
                        AND k.column_name = c.column_name) AS BIGINT)
         FROM information_schema.columns c
         WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(t, c, kind, nullable, pk)| {
            let kind = match kind.as_str() {
                "bigint" => "integer",
                "text" => "text",
                "bytea" => "bytes",
                other => panic!("{t}.{c}: PostgreSQL type {other} has no SQLite twin"),
            };
            (t, c, kind.to_owned(), nullable == "NO", pk != 0)
        })
        .collect()
}

async fn versions(db: &Db) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_schemas_agree() {
    let pg = Postgres::start().unwrap();
    let url = pg
        .create_app_database("cipherdrop", "schema-test-password")
        .unwrap();
    let postgres = db::connect_postgres(
        db::postgres_options(&url).unwrap(),
        db::PoolSize::default(),
        None,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = db::open(&dir.path().join("db.sqlite")).await.unwrap();

    assert_eq!(versions(&sqlite).await, versions(&postgres).await);
    let (s, p) = (
        sqlite_columns(&sqlite).await,
        postgres_columns(&postgres).await,
    );
    let only_sqlite: Vec<_> = s.difference(&p).collect();
    let only_postgres: Vec<_> = p.difference(&s).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "SQLite only: {only_sqlite:#?}\nPostgreSQL only: {only_postgres:#?}"
    );
    assert!(s.len() > 60, "{} columns", s.len());
    let s_indexes: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(&sqlite)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let p_indexes: BTreeSet<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes
         WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'",
    )
    .fetch_all(&postgres)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(s_indexes, p_indexes);

    // The audit log is append-only on PostgreSQL as well.
    for sql in [
        "UPDATE audit SET actor = 'mallory'",
        "DELETE FROM audit",
        "TRUNCATE audit",
    ] {
        sqlx::query("INSERT INTO audit VALUES (999, 0, 'a', 'b', NULL, NULL, 'ok', '', '', '')")
            .execute(&postgres)
            .await
            .ok();
        let e = sqlx::query(sql).execute(&postgres).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    postgres.close().await;
}
