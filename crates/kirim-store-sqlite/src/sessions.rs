//! Connectors' session state: opaque values per device, namespace and key.

use async_trait::async_trait;
use kirim_core::id::DevicePk;
use kirim_core::session::{SessionStore, SessionWrite};
use kirim_core::store::StoreResult;
use rusqlite::params;
use sqlx::Row;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult};
use crate::writer::Ctx;

/// The least string greater than every string that starts with `prefix` (`None`: no bound).
/// SQLite compares TEXT byte-wise, and UTF-8 byte order is code point order.
fn upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn write(ctx: &mut Ctx, (device, writes): &(DevicePk, Vec<SessionWrite>)) -> Result<(), OpError> {
    for write in writes {
        match write {
            SessionWrite::Put { namespace, key, value } => {
                ctx.exec(
                    "INSERT INTO device_sessions (device_pk, namespace, key, value) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (device_pk, namespace, key) DO UPDATE SET value = excluded.value",
                    params![device.0, namespace, key, value],
                )?;
            }
            SessionWrite::Delete { namespace, key } => {
                ctx.exec(
                    "DELETE FROM device_sessions WHERE device_pk = ? AND namespace = ? AND key = ?",
                    params![device.0, namespace, key],
                )?;
            }
            SessionWrite::DeletePrefix { namespace, prefix } => {
                ctx.exec(
                    "DELETE FROM device_sessions WHERE device_pk = ?1 AND namespace = ?2 AND key >= ?3 AND (?4 IS NULL OR key < ?4)",
                    params![device.0, namespace, prefix, upper_bound(prefix)],
                )?;
            }
        }
    }
    Ok(())
}

fn clear(ctx: &mut Ctx, device: &DevicePk) -> Result<(), OpError> {
    ctx.exec("DELETE FROM device_sessions WHERE device_pk = ?", [device.0])?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn session_get(&self, device: DevicePk, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT value FROM device_sessions WHERE device_pk = ? AND namespace = ? AND key = ?")
            .bind(device.0)
            .bind(namespace)
            .bind(key)
            .fetch_optional(self.read())
            .await
            .read()?;
        row.map(|r| r.try_get::<Vec<u8>, _>("value")).transpose().read()
    }

    async fn session_scan(&self, device: DevicePk, namespace: &str, prefix: &str) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT key, value FROM device_sessions WHERE device_pk = ?1 AND namespace = ?2 AND key >= ?3 AND (?4 IS NULL OR key < ?4) \
             ORDER BY key",
        )
        .bind(device.0)
        .bind(namespace)
        .bind(prefix)
        .bind(upper_bound(prefix))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(|r| Ok((r.try_get("key")?, r.try_get("value")?))).collect::<Result<_, sqlx::Error>>().read()
    }

    async fn session_write(&self, device: DevicePk, writes: Vec<SessionWrite>) -> StoreResult<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.writer().call((device, writes), write).await
    }

    async fn session_clear(&self, device: DevicePk) -> StoreResult<()> {
        self.writer().call(device, clear).await
    }
}

#[cfg(test)]
mod tests {
    use super::upper_bound;

    #[test]
    fn the_upper_bound_follows_every_key_with_the_prefix() {
        assert_eq!(upper_bound(""), None);
        assert_eq!(upper_bound("ab"), Some("ac".into()));
        assert_eq!(upper_bound("a\u{D7FF}"), Some("a\u{E000}".into()));
        assert_eq!(upper_bound("a\u{10FFFF}"), Some("b".into()));
        assert_eq!(upper_bound("\u{10FFFF}"), None);
        for key in ["ab", "ab/", "ab\u{10FFFF}", "ab\u{FFFF}x"] {
            assert!(key.as_bytes() < upper_bound("ab").unwrap().as_bytes(), "{key}");
        }
    }
}
