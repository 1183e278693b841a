//! The single writer: every write of the store runs here, on one connection, group-committed.
//!
//! Callers send operations over a bounded channel. The writer takes everything queued (up to
//! `max_batch` operations), runs them in order inside one `BEGIN IMMEDIATE … COMMIT`, and only
//! then answers each caller. One fsync covers the whole batch, and since nothing else ever
//! writes, "database is locked" cannot happen.
//!
//! The writer is a thread of its own that owns its connection (rusqlite): each statement is
//! a plain function call, with no hand-off between threads, and prepared statements stay
//! cached. Under load a batch holds hundreds of operations, so what a statement costs is what
//! bounds the whole gateway's write rate.
//!
//! If a statement fails, the batch is rolled back: nothing of it is committed. Its operations
//! are then run again one by one, each in its own transaction, so one bad operation (say, a
//! duplicate key) fails alone instead of failing its neighbours.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use kirim_core::DeviceId;
use kirim_core::id::{DevicePk, TenantPk};
use kirim_core::message::NewOutbound;
use kirim_core::store::{InsertOutcome, StoreError, StoreResult};
use rusqlite::{Connection, Params, Row};

use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Bad, OpError, WriteError, decode, store_error};
use crate::outbound::{self, OutboundJob};
use crate::rows::Cols;

/// What the writer knows about a device, cached for the length of one transaction: the hot
/// path needs the public id of every message's device. The cache starts empty in each
/// transaction, so it is exact even if another process (an admin command) wrote in between.
#[derive(Debug, Clone)]
pub(crate) struct DeviceRef {
    pub tenant: TenantPk,
    pub id: DeviceId,
    pub live: bool,
    /// It has a quota or an expiry: the accept path reads those afresh (see `usage.rs`).
    pub limited: bool,
}

/// The writer's state, lent to each operation.
pub(crate) struct Ctx {
    pub conn: Connection,
    devices: RefCell<HashMap<i64, DeviceRef>>,
    columns: RefCell<HashMap<String, Rc<[String]>>>,
    /// Set when the running transaction wrote events; announced after its commit.
    pub events_appended: bool,
    /// Events appended by the running transaction, written just before it commits.
    pub pending_events: Vec<kirim_core::event::NewEvent>,
}

impl Ctx {
    /// Every row of a (cached) statement, mapped by `f`.
    pub fn all<T>(
        &self,
        sql: &str,
        params: impl Params,
        mut f: impl FnMut(&LiteRow<'_>) -> Result<T, WriteError>,
    ) -> Result<Vec<T>, WriteError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let names = self.column_names(sql, &stmt);
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(f(&LiteRow { row, names: &names })?);
        }
        Ok(out)
    }

    /// The first row, if any.
    pub fn opt<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&LiteRow<'_>) -> Result<T, WriteError>,
    ) -> Result<Option<T>, WriteError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let names = self.column_names(sql, &stmt);
        let mut rows = stmt.query(params)?;
        match rows.next()? {
            Some(row) => Ok(Some(f(&LiteRow { row, names: &names })?)),
            None => Ok(None),
        }
    }

    /// The statement's column names, remembered per SQL text (statements are few and fixed).
    fn column_names(&self, sql: &str, stmt: &rusqlite::Statement<'_>) -> Rc<[String]> {
        if let Some(names) = self.columns.borrow().get(sql) {
            return names.clone();
        }
        let names: Rc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
        self.columns.borrow_mut().insert(sql.to_owned(), names.clone());
        names
    }

    /// The first row, which must exist.
    pub fn one<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&LiteRow<'_>) -> Result<T, WriteError>) -> Result<T, WriteError> {
        self.opt(sql, params, f)?.ok_or(WriteError::Sql(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn exec(&self, sql: &str, params: impl Params) -> Result<usize, WriteError> {
        Ok(self.conn.prepare_cached(sql)?.execute(params)?)
    }

    /// The device with this pk, live or deleted (cached: the hot path needs its public id).
    pub fn device(&self, pk: DevicePk) -> Result<Option<DeviceRef>, WriteError> {
        if let Some(d) = self.devices.borrow().get(&pk.0) {
            return Ok(Some(d.clone()));
        }
        let found = self.opt("SELECT tenant_pk, id, deleted_at IS NULL AS live, (quota IS NOT NULL OR expires_at IS NOT NULL) AS limited FROM devices WHERE pk = ?", [pk.0], |row| {
            let raw = row.text("id")?;
            Ok(DeviceRef {
                tenant: TenantPk(row.int("tenant_pk")?),
                id: raw.parse().map_err(|_| decode(format!("bad device id `{raw}`")))?,
                live: row.flag("live")?,
                limited: row.flag("limited")?,
            })
        })?;
        if let Some(d) = &found {
            self.devices.borrow_mut().insert(pk.0, d.clone());
        }
        Ok(found)
    }

    /// The public id of a device known to exist (a message's device).
    pub fn device_id(&self, pk: DevicePk) -> Result<DeviceId, WriteError> {
        match self.device(pk)? {
            Some(d) => Ok(d.id),
            None => Err(decode(format!("device {} is missing", pk.0)).into()),
        }
    }

    /// Forgets what the cache holds on a device that was deleted or whose limits changed.
    pub fn device_deleted(&self, pk: DevicePk) {
        self.devices.borrow_mut().remove(&pk.0);
    }
}

/// A writer's row with its statement's column names, looked up once per query: rusqlite's
/// own lookup by name asks SQLite for every column's name on every call.
pub(crate) struct LiteRow<'a> {
    row: &'a Row<'a>,
    names: &'a [String],
}

impl LiteRow<'_> {
    fn index(&self, col: &str) -> Result<usize, Bad> {
        self.names.iter().position(|n| n == col).ok_or_else(|| decode(format!("no column {col}")))
    }

    fn get<T: rusqlite::types::FromSql>(&self, col: &str) -> Result<T, Bad> {
        self.row.get(self.index(col)?).map_err(|e| decode(format!("column {col}: {e}")))
    }
}

impl Cols for LiteRow<'_> {
    fn opt_int(&self, col: &str) -> Result<Option<i64>, Bad> {
        self.get(col)
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, Bad> {
        self.get(col)
    }

    fn opt_blob(&self, col: &str) -> Result<Option<Vec<u8>>, Bad> {
        self.get(col)
    }
}

/// A queued write: runs inside a batch (maybe twice, see module docs), then is answered.
trait Op: Send {
    fn run(&mut self, ctx: &mut Ctx) -> Result<(), WriteError>;
    /// Answers the caller: with the operation's own result, or with the batch's failure.
    fn finish(self: Box<Self>, failure: Option<StoreError>);
    /// An `insert_outbound`, which the batch coalesces with its neighbours.
    fn outbound(&mut self) -> Option<&mut OutboundJob> {
        None
    }
    fn is_outbound(&self) -> bool {
        false
    }
}

struct OutboundOp {
    job: OutboundJob,
    reply: oneshot::Sender<StoreResult<Vec<InsertOutcome>>>,
}

impl Op for OutboundOp {
    fn run(&mut self, ctx: &mut Ctx) -> Result<(), WriteError> {
        outbound::insert_group(ctx, &mut [&mut self.job])
    }

    fn finish(self: Box<Self>, failure: Option<StoreError>) {
        answer(self.reply, failure, self.job.out);
    }

    fn outbound(&mut self) -> Option<&mut OutboundJob> {
        Some(&mut self.job)
    }

    fn is_outbound(&self) -> bool {
        true
    }
}

struct Job<I, T, F> {
    input: I,
    f: F,
    out: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<I, T, F> Op for Job<I, T, F>
where
    I: Send,
    T: Send,
    F: Fn(&mut Ctx, &I) -> Result<T, OpError> + Send,
{
    fn run(&mut self, ctx: &mut Ctx) -> Result<(), WriteError> {
        self.out = match (self.f)(ctx, &self.input) {
            Ok(v) => Some(Ok(v)),
            Err(OpError::Refuse(e)) => Some(Err(e)),
            Err(OpError::Abort(e)) => {
                self.out = None;
                return Err(e);
            }
        };
        Ok(())
    }

    fn finish(self: Box<Self>, failure: Option<StoreError>) {
        answer(self.reply, failure, self.out);
    }
}

/// Sends an operation's result, or the batch's failure, to its caller.
fn answer<T>(reply: oneshot::Sender<StoreResult<T>>, failure: Option<StoreError>, out: Option<StoreResult<T>>) {
    let result = match (failure, out) {
        (Some(e), _) => Err(e),
        (None, Some(r)) => r,
        (None, None) => Err(StoreError::Unavailable("the write was not run".into())),
    };
    // The caller may have gone away; the write stands regardless.
    let _ = reply.send(result);
}

enum Command {
    Op(Box<dyn Op>),
    Shutdown(oneshot::Sender<()>),
}

/// The sending side, shared by every clone of the store.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Command>,
    commits: watch::Receiver<u64>,
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub fn spawn(conn: Connection, max_batch: usize) -> std::io::Result<Self> {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(4));
        let (announce, commits) = watch::channel(0);
        std::thread::Builder::new().name("kirim-sqlite-writer".into()).spawn(move || {
            let ctx = Ctx {
                conn,
                devices: RefCell::new(HashMap::new()),
                columns: RefCell::new(HashMap::new()),
                events_appended: false,
                pending_events: Vec::new(),
            };
            run(ctx, rx, max_batch, announce)
        })?;
        Ok(Self { tx, commits })
    }

    /// Bumped after each commit that appended events.
    pub fn event_commits(&self) -> watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Queues `f(ctx, &input)` and waits until its batch is committed (or failed).
    pub async fn call<I, T, F>(&self, input: I, f: F) -> StoreResult<T>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(&mut Ctx, &I) -> Result<T, OpError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job { input, f, out: None, reply };
        self.tx.send(Command::Op(Box::new(job))).await.map_err(|_| closed())?;
        answer.await.map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    /// Queues an `insert_outbound` (coalesced with the other inserts of its batch).
    pub async fn insert_outbound(&self, messages: Vec<NewOutbound>) -> StoreResult<Vec<InsertOutcome>> {
        let (reply, answer) = oneshot::channel();
        let op = OutboundOp { job: OutboundJob { messages, out: None }, reply };
        self.tx.send(Command::Op(Box::new(op))).await.map_err(|_| closed())?;
        answer.await.map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    /// Lets every operation queued so far finish, then stops the writer and closes its connection.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn run(mut ctx: Ctx, mut rx: mpsc::Receiver<Command>, max_batch: usize, announce: watch::Sender<u64>) {
    let mut commands = Vec::with_capacity(max_batch);
    let mut stopping: Vec<oneshot::Sender<()>> = Vec::new();
    // Waits on the channel without a runtime: this thread only ever writes.
    while rx.blocking_recv_many(&mut commands, max_batch) > 0 {
        let mut ops = Vec::with_capacity(commands.len());
        for command in commands.drain(..) {
            match command {
                Command::Op(op) if stopping.is_empty() => ops.push(op),
                Command::Op(op) => op.finish(Some(closed())),
                Command::Shutdown(done) => stopping.push(done),
            }
        }
        commit(&mut ctx, ops, &announce);
        if !stopping.is_empty() {
            rx.close();
        }
    }
    // Every sender is gone, or the channel was closed and drained.
    let Ctx { conn, .. } = ctx;
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the SQLite write connection failed");
    }
    for done in stopping {
        let _ = done.send(());
    }
}

/// Runs a batch in one transaction; on failure, runs each operation alone.
fn commit(ctx: &mut Ctx, mut ops: Vec<Box<dyn Op>>, announce: &watch::Sender<u64>) {
    if ops.is_empty() {
        return;
    }
    // Readers of the log hear of new events before the writers are answered, so anyone who
    // saw a write succeed can rely on its events having been announced.
    let announced = |ctx: &mut Ctx| {
        if std::mem::take(&mut ctx.events_appended) {
            announce.send_modify(|n| *n = n.wrapping_add(1));
        }
    };
    let failure = match transaction(ctx, &mut ops) {
        Ok(()) => {
            announced(ctx);
            ops.into_iter().for_each(|op| op.finish(None));
            return;
        }
        Err(e) => {
            ctx.events_appended = false;
            e
        }
    };
    if ops.len() == 1 {
        tracing::warn!(error = %failure, "a SQLite write failed");
        ops.into_iter().for_each(|op| op.finish(Some(store_error(&failure))));
        return;
    }
    tracing::warn!(error = %failure, ops = ops.len(), "a SQLite write batch failed; retrying its operations one by one");
    for op in ops {
        let mut one = [op];
        let result = transaction(ctx, &mut one);
        let [op] = one;
        match result {
            Ok(()) => {
                announced(ctx);
                op.finish(None);
            }
            Err(e) => {
                ctx.events_appended = false;
                tracing::warn!(error = %e, "a SQLite write failed");
                op.finish(Some(store_error(&e)));
            }
        }
    }
}

fn transaction(ctx: &mut Ctx, ops: &mut [Box<dyn Op>]) -> Result<(), WriteError> {
    ctx.pending_events.clear();
    ctx.exec("BEGIN IMMEDIATE", [])?;
    ctx.devices.borrow_mut().clear();
    let result = (|| {
        let mut i = 0;
        while i < ops.len() {
            let run = ops[i..].iter().take_while(|op| op.is_outbound()).count();
            if run > 0 {
                let mut group: Vec<&mut OutboundJob> = ops[i..i + run].iter_mut().filter_map(|op| op.outbound()).collect();
                i += run;
                outbound::insert_group(ctx, &mut group)?;
            } else {
                i += 1;
                ops[i - 1].run(ctx)?;
            }
        }
        crate::events::flush(ctx)?;
        ctx.exec("COMMIT", [])?;
        Ok(())
    })();
    if result.is_err() {
        ctx.pending_events.clear();
        // SQLite may already have rolled back by itself (e.g. on a full disk); that error is moot.
        let _ = ctx.conn.execute_batch("ROLLBACK");
    }
    result
}
