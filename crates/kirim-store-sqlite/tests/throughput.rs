//! A rough measure of the accept path: `cargo test -p kirim-store-sqlite --test throughput -- --ignored --nocapture`.
//! Ignored by default: it measures, it does not check.

use std::sync::Arc;
use std::time::Instant;

use kirim_core::MessageId;
use kirim_core::store::Store;
use kirim_store_sqlite::{Durability, SqliteConfig, SqliteStore};
use kirim_store_tests::fixtures::{device, outbound, tenant};

async fn run(durability: Durability, callers: usize, per_caller: usize, keys: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = SqliteConfig::new(dir.path().join("bench.db"));
    config.durability = durability;
    let sqlite = SqliteStore::open(config).await.expect("open");
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let t = tenant(&*store, "bench").await;
    let devices = [device(&*store, &t, "one").await, device(&*store, &t, "two").await];
    let cpu0 = cpu_ticks();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let store = store.clone();
        let template = outbound(&devices[c % 2], "benchmark message body");
        tasks.push(tokio::spawn(async move {
            for i in 0..per_caller {
                let mut m = template.clone();
                m.id = MessageId::generate();
                m.idempotency_key = keys.then(|| format!("{c}-{i}"));
                store.insert_outbound(vec![m]).await.expect("insert");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let elapsed = started.elapsed();
    let cpu = cpu_ticks() - cpu0;
    let n = callers * per_caller;
    println!(
        "{durability:?}, keys {keys}: {n} messages, {callers} callers, one per call: {:.0} messages/s ({elapsed:.2?}, {:.0} us of CPU per message)",
        n as f64 / elapsed.as_secs_f64(),
        cpu as f64 * 10_000.0 / n as f64,
    );
    sqlite.close().await;
}

/// User + system CPU time of this process, in clock ticks (1/100 s on Linux); 0 elsewhere.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

#[test]
#[ignore = "a measurement, not a check"]
fn insert_outbound_throughput() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        run(Durability::Full, 64, 500, true).await;
        run(Durability::Full, 64, 500, false).await;
        run(Durability::Normal, 64, 500, true).await;
        run(Durability::Full, 256, 200, true).await;
    });
}
