//! The ceilings: minimal servers that do only the unavoidable part of Kirim's accept path,
//! run as child processes of the bench (like Kirim) and driven by the same load generator.
//!
//! - `noop`: reads the body and answers 202 `{}` — what HTTP on this machine costs.
//! - `insert`: parses Kirim's send request into a typed struct and group-commits one
//!   message-like row per request into SQLite (WAL, `synchronous=FULL`) before answering 202
//!   with the row's id — what a durable accept costs. Its writer is built the way Kirim's is
//!   (rusqlite on a thread of its own), so the ceiling is not slower than the thing it bounds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};

/// Most rows one transaction commits.
const MAX_BATCH: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Noop,
    Insert,
}

/// How the insert ceiling writes a batch: both were measured; the faster is the default
/// (with rusqlite, one cached statement per row beat one multi-row statement per batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InsertStyle {
    /// One multi-row `INSERT … VALUES (…), (…)` per batch.
    MultiRow,
    /// One cached prepared statement executed per row.
    PerRow,
}

#[derive(Args, Debug)]
pub struct ServerArgs {
    #[arg(long, value_enum)]
    pub mode: Mode,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Where the insert ceiling keeps its database.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "per-row")]
    pub insert_style: InsertStyle,
}

/// Kirim's send request, as far as a text message goes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    device_id: String,
    to: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<TextContent>,
    #[serde(default)]
    priority: i64,
}

#[derive(Deserialize, Serialize)]
struct TextContent {
    body: String,
    #[serde(default)]
    preview_url: bool,
}

struct Row {
    id: String,
    chat: String,
    kind: String,
    content: String,
    priority: i64,
    now: i64,
}

struct Job {
    row: Row,
    reply: oneshot::Sender<Result<(), String>>,
}

/// `kirim-bench ceiling-server`: binds, prints the port on stdout's first line, serves.
pub async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let writer = match args.mode {
        Mode::Noop => None,
        Mode::Insert => {
            let dir = args.data_dir.as_deref().context("--mode insert needs --data-dir")?;
            let conn = open_database(dir)?;
            let (tx, rx) = mpsc::channel::<Job>(8 * MAX_BATCH);
            let style = args.insert_style;
            std::thread::Builder::new().name("ceiling-writer".into()).spawn(move || write_batches(conn, rx, style))?;
            Some(tx)
        }
    };
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    println!("{}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let writer = writer.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, writer.clone()));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(req: Request<Incoming>, writer: Option<mpsc::Sender<Job>>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let body = req.into_body().collect().await?.to_bytes();
    let Some(writer) = writer else {
        return Ok(respond(StatusCode::ACCEPTED, Bytes::from_static(b"{}")));
    };
    let row = match parse(&body) {
        Ok(row) => row,
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, &e)),
    };
    let id = row.id.clone();
    let (reply, committed) = oneshot::channel();
    if writer.send(Job { row, reply }).await.is_err() {
        return Ok(error(StatusCode::SERVICE_UNAVAILABLE, "the writer stopped"));
    }
    Ok(match committed.await {
        Ok(Ok(())) => respond(StatusCode::ACCEPTED, Bytes::from(format!(r#"{{"id":"{id}","status":"pending"}}"#))),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "the writer stopped"),
    })
}

fn parse(body: &[u8]) -> Result<Row, String> {
    let req: SendRequest = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if req.kind != "text" {
        return Err(format!("unsupported type {}", req.kind));
    }
    let text = req.text.ok_or("`text` is missing")?;
    let digits = req.to.strip_prefix('+').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    let digits = digits.ok_or("`to` is not a phone number")?;
    if req.device_id.is_empty() {
        return Err("`device_id` is empty".into());
    }
    Ok(Row {
        id: format!("msg_{:016x}{:08x}", rand::random::<u64>(), rand::random::<u32>()),
        chat: format!("{digits}@s.whatsapp.net"),
        kind: req.kind,
        content: serde_json::to_string(&serde_json::json!({ "text": text })).map_err(|e| e.to_string())?,
        priority: req.priority,
        now: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64,
    })
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": { "code": "ceiling", "message": message } });
    respond(status, Bytes::from(body.to_string()))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    pk INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, tenant_pk INTEGER NOT NULL, device_pk INTEGER NOT NULL,
    direction TEXT NOT NULL, chat TEXT NOT NULL, kind TEXT NOT NULL, content TEXT NOT NULL, status TEXT NOT NULL,
    priority INTEGER NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
    next_attempt_at INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS messages_queue ON messages (device_pk, priority DESC, pk) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS messages_tenant ON messages (tenant_pk, pk DESC);";

macro_rules! insert_into {
    () => {
        "INSERT INTO messages (id, tenant_pk, device_pk, direction, chat, kind, content, status, priority, \
         attempts, max_attempts, next_attempt_at, created_at, updated_at) "
    };
}
const COLUMNS: &str = insert_into!();
const INSERT_ONE: &str = concat!(insert_into!(), "VALUES (?, 1, 1, 'outbound', ?, ?, ?, 'pending', ?, 0, 5, ?, ?, ?)");

fn open_database(dir: &Path) -> anyhow::Result<rusqlite::Connection> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let conn = rusqlite::Connection::open(dir.join("ceiling.db")).context("opening the ceiling database")?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "the ceiling database cannot use WAL");
    conn.execute_batch("PRAGMA synchronous = FULL;")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// The single writer, on a thread of its own like Kirim's: takes everything queued (up to 512
/// rows), commits it in one transaction, then answers every request of the batch.
fn write_batches(mut conn: rusqlite::Connection, mut rx: mpsc::Receiver<Job>, style: InsertStyle) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
        let outcome = commit(&mut conn, &batch, style).map_err(|e| format!("{e:#}"));
        for job in batch.drain(..) {
            let _ = job.reply.send(outcome.clone());
        }
    }
}

fn commit(conn: &mut rusqlite::Connection, batch: &[Job], style: InsertStyle) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    match style {
        InsertStyle::MultiRow => {
            let rows = vec!["(?, 1, 1, 'outbound', ?, ?, ?, 'pending', ?, 0, 5, ?, ?, ?)"; batch.len()].join(", ");
            let sql = format!("{COLUMNS}VALUES {rows}");
            let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(batch.len() * 8);
            for job in batch {
                let r = &job.row;
                values.extend([
                    r.id.clone().into(),
                    r.chat.clone().into(),
                    r.kind.clone().into(),
                    r.content.clone().into(),
                    r.priority.into(),
                    r.now.into(),
                    r.now.into(),
                    r.now.into(),
                ]);
            }
            tx.execute(&sql, rusqlite::params_from_iter(values))?;
        }
        InsertStyle::PerRow => {
            let mut insert = tx.prepare_cached(INSERT_ONE)?;
            for job in batch {
                let r = &job.row;
                insert.execute(rusqlite::params![r.id, r.chat, r.kind, r.content, r.priority, r.now, r.now, r.now])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// A ceiling server running as a child process.
pub struct CeilingProcess {
    child: Child,
    pub addr: SocketAddr,
    _stdout: BufReader<ChildStdout>,
    _data: Option<tempfile::TempDir>,
}

impl CeilingProcess {
    /// Re-executes this binary as `ceiling-server` and reads the port it bound.
    pub async fn start(mode: Mode) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the kirim-bench executable")?;
        let mut command = Command::new(exe);
        command.arg("ceiling-server").arg("--mode").arg(mode_name(mode)).arg("--listen").arg("127.0.0.1:0");
        let data = match mode {
            Mode::Insert => Some(tempfile::Builder::new().prefix("kirim-bench-ceiling-").tempdir()?),
            Mode::Noop => None,
        };
        if let Some(dir) = &data {
            command.arg("--data-dir").arg(dir.path());
        }
        if let Ok(style) = std::env::var("KIRIM_BENCH_INSERT_STYLE") {
            command.arg("--insert-style").arg(style);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        let mut child = command.spawn().context("starting the ceiling server")?;
        let mut stdout = BufReader::new(child.stdout.take().context("the ceiling server's stdout")?);
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(15), stdout.read_line(&mut line))
            .await
            .context("the ceiling server did not print its port within 15 s")??;
        let port: u16 = line.trim().parse().with_context(|| format!("the ceiling server printed {line:?}, not a port"))?;
        Ok(Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), _stdout: stdout, _data: data })
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("stopping the ceiling server")
    }
}

pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Noop => "noop",
        Mode::Insert => "insert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_insert_styles_store_kirims_send_request_as_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_database(dir.path()).unwrap();
        for style in [InsertStyle::MultiRow, InsertStyle::PerRow] {
            let batch: Vec<Job> =
                (0..3).map(|n| Job { row: parse(&crate::loadgen::send_body("dev_1", n)).unwrap(), reply: oneshot::channel().0 }).collect();
            commit(&mut conn, &batch, style).unwrap();
        }
        let mut select = conn.prepare("SELECT chat, content FROM messages ORDER BY pk").unwrap();
        let rows: Vec<(String, String)> =
            select.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[1].0, "60123456780@s.whatsapp.net");
        assert!(rows[1].1.starts_with(r#"{"text":{"body":"Your booking #1001"#), "{}", rows[1].1);
        assert!(parse(br#"{"device_id":"d","to":"0123","type":"text","text":{"body":"x"}}"#).is_err());
    }
}
