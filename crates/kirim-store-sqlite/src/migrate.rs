//! A tiny migration runner: numbered SQL files embedded in the binary, each applied once,
//! in its own transaction, and recorded in `schema_migrations`.

use anyhow::{Context, bail};
use sqlx::{Row, SqliteConnection};

/// Every migration, in order. Versions are never reused or edited once released.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_webhooks.sql")),
    (3, include_str!("../migrations/0003_sessions.sql")),
    (4, include_str!("../migrations/0004_contacts.sql")),
    (5, include_str!("../migrations/0005_schedules.sql")),
    (6, include_str!("../migrations/0006_sending.sql")),
    (7, include_str!("../migrations/0007_reminders_auto_replies.sql")),
    (8, include_str!("../migrations/0008_reports_agents.sql")),
    (9, include_str!("../migrations/0009_media.sql")),
    (10, include_str!("../migrations/0010_received_media.sql")),
    (11, include_str!("../migrations/0011_jobs_templates.sql")),
    (12, include_str!("../migrations/0012_usage.sql")),
    (13, include_str!("../migrations/0013_webhook_format.sql")),
    (14, include_str!("../migrations/0014_device_workspace.sql")),
];

/// The schema version this build expects.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Applies the migrations the database lacks; returns how many were applied.
pub(crate) async fn run(conn: &mut SqliteConnection) -> anyhow::Result<u32> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        .execute(&mut *conn)
        .await
        .context("creating schema_migrations")?;
    let newest: i64 =
        sqlx::query("SELECT coalesce(max(version), 0) AS v FROM schema_migrations").fetch_one(&mut *conn).await?.try_get("v")?;
    if newest > i64::from(latest()) {
        bail!("the database has schema version {newest}, newer than this build knows ({}); upgrade Kirim", latest());
    }
    let mut applied = 0;
    for (version, sql) in MIGRATIONS {
        // Checked inside the transaction, so two processes migrating at once apply it once.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        match apply(conn, *version, sql).await {
            Ok(true) => applied += 1,
            Ok(false) => {}
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(e.context(format!("applying migration {version}")));
            }
        }
    }
    Ok(applied)
}

async fn apply(conn: &mut SqliteConnection, version: u32, sql: &'static str) -> anyhow::Result<bool> {
    let done = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = ?")
        .bind(i64::from(version))
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if !done {
        sqlx::raw_sql(sql).execute(&mut *conn).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
            .bind(i64::from(version))
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(!done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;

    async fn connect(dir: &tempfile::TempDir) -> SqliteConnection {
        SqliteConnectOptions::new().filename(dir.path().join("m.db")).create_if_missing(true).connect().await.expect("connect")
    }

    #[tokio::test]
    async fn migrations_apply_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = connect(&dir).await;
        assert_eq!(run(&mut conn).await.expect("first run") as usize, MIGRATIONS.len());
        assert_eq!(run(&mut conn).await.expect("second run"), 0, "nothing is applied twice");
        let versions: i64 = sqlx::query("SELECT count(*) AS n FROM schema_migrations").fetch_one(&mut conn).await.expect("count").get("n");
        assert_eq!(versions as usize, MIGRATIONS.len());
        drop(conn);
        let mut again = connect(&dir).await;
        assert_eq!(run(&mut again).await.expect("after reconnect"), 0);
    }

    #[tokio::test]
    async fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = connect(&dir).await;
        run(&mut conn).await.expect("migrate");
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 'later')").execute(&mut conn).await.expect("insert");
        let err = run(&mut conn).await.expect_err("newer schema");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[tokio::test]
    async fn a_failed_migration_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = connect(&dir).await;
        run(&mut conn).await.expect("migrate");
        sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.expect("begin");
        let err = apply(&mut conn, 77, "CREATE TABLE t77 (x); CREATE TABLE tenants (x);").await;
        assert!(err.is_err());
        sqlx::query("ROLLBACK").execute(&mut conn).await.expect("rollback");
        let t77 = sqlx::query("SELECT name FROM sqlite_master WHERE name = 't77'").fetch_optional(&mut conn).await.expect("q");
        assert!(t77.is_none(), "the half-applied migration was rolled back");
    }
}
