//! The real `kirim` binary as a child process, and the few API calls the bench makes to it.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The `kirim` binary to run: the given path, or the one next to this executable.
pub fn locate_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe().context("locating the kirim-bench executable")?.with_file_name("kirim"),
    };
    if !path.is_file() {
        bail!("the kirim binary is not at {}: build it first with `cargo build -p kirim` (or pass --kirim-bin)", path.display());
    }
    Ok(path)
}

/// A random token of `len` alphanumeric characters.
pub fn random_token(len: usize) -> String {
    use rand::Rng as _;
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(len).map(char::from).collect()
}

/// A `kirim serve` child process.
pub struct Kirim {
    child: Child,
    pub addr: SocketAddr,
    pub api: Api,
    stderr_path: PathBuf,
}

impl Kirim {
    /// Starts `kirim serve` on `data_dir` and waits until `/readyz` answers 200.
    pub async fn start(bin: &Path, data_dir: &Path, admin_token: &str) -> anyhow::Result<Self> {
        Self::start_with(bin, data_dir, admin_token, &[]).await
    }

    /// Like [`Kirim::start`], with more settings as `KIRIM_*` variables (they override the
    /// bench's defaults: no pacing, receipts at once, warnings only).
    pub async fn start_with(bin: &Path, data_dir: &Path, admin_token: &str, settings: &[(String, String)]) -> anyhow::Result<Self> {
        let addr = free_port()?;
        std::fs::create_dir_all(data_dir)?;
        let stderr_path = data_dir.join(format!("kirim-stderr-{}.log", addr.port()));
        let stderr = std::fs::File::create(&stderr_path).with_context(|| format!("creating {}", stderr_path.display()))?;
        let mut command = Command::new(bin);
        command.arg("serve");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KIRIM_") {
                command.env_remove(key);
            }
        }
        command
            .env("KIRIM_LISTEN", addr.to_string())
            .env("KIRIM_DATA_DIR", data_dir)
            .env("KIRIM_ADMIN_TOKEN", admin_token)
            .env("KIRIM_SENDING_PACING_MS", "0")
            .env("KIRIM_SENDING_PACING_JITTER_MS", "0")
            .env("KIRIM_LOG_LEVEL", "warn")
            .env("KIRIM_SANDBOX_DELIVERED_AFTER_MS", "0")
            .env("KIRIM_SANDBOX_READ_AFTER_MS", "0")
            // Limits are checked on every request, as in production, but set out of reach
            // so the load measures the path, not the limiter's refusals.
            .env("KIRIM_RATE_LIMITS_PER_KEY", "4000000000")
            .env("KIRIM_RATE_LIMITS_PER_TENANT", "4000000000")
            .envs(settings.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let mut kirim = Self { child, addr, api: Api::new(addr), stderr_path };
        kirim.wait_ready().await?;
        Ok(kirim)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("kirim exited ({status}) before it was ready; its stderr:\n{}", self.stderr());
            }
            if let Ok((StatusCode::OK, _)) = self.api.call(Method::GET, "/readyz", None, None).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill().await;
                bail!("kirim was not ready on {} within 30 s; its stderr:\n{}", self.addr, self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The child's process id (None once it was reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// What the child wrote to stderr so far (its last 4 KiB).
    pub fn stderr(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let cut = text.len().saturating_sub(4096);
        let cut = (cut..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        text[cut..].to_string()
    }

    /// SIGKILL: no chance to flush or shut down.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("killing kirim")
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("kirim did not stop within 10 s of SIGTERM; it was killed")
            }
        }
    }

    /// Creates a tenant and a connected sandbox device to send from.
    pub async fn setup_sandbox(&self, admin_token: &str) -> anyhow::Result<Sender> {
        let tenant =
            self.api.expect(Method::POST, "/v1/tenants", Some(admin_token), Some(json!({"name": "bench"})), StatusCode::CREATED).await?;
        let api_key = str_field(&tenant, "api_key")?;
        let device = json!({"name": "bench-1", "connector": "sandbox", "settings": {"pacing_ms": 0, "pacing_jitter_ms": 0}});
        let device = self.api.expect(Method::POST, "/v1/devices", Some(&api_key), Some(device), StatusCode::CREATED).await?;
        let sender = Sender {
            api_key,
            device_id: str_field(&device, "id")?,
            device_token: str_field(&device, "token")?,
            tenant_id: str_field(&tenant, "id")?,
        };
        self.link(&sender).await?;
        Ok(sender)
    }

    /// Gives the sender's tenant a daily token budget and its device a quota (admin calls).
    pub async fn set_limits(&self, admin_token: &str, s: &Sender, daily_tokens: u64, quota: u64) -> anyhow::Result<()> {
        let tenant = format!("/v1/tenants/{}", s.tenant_id);
        let budget = json!({"daily_token_limit": daily_tokens});
        self.api.expect(Method::PATCH, &tenant, Some(admin_token), Some(budget), StatusCode::OK).await?;
        let limits = format!("/v1/devices/{}/limits", s.device_id);
        self.api.expect(Method::PUT, &limits, Some(admin_token), Some(json!({"quota": quota})), StatusCode::OK).await?;
        Ok(())
    }

    /// Links the device: connect, the simulated phone scans, wait until connected.
    pub async fn link(&self, s: &Sender) -> anyhow::Result<()> {
        let (key, id) = (Some(s.api_key.as_str()), &s.device_id);
        self.api.expect(Method::POST, &format!("/v1/devices/{id}/connect"), key, Some(json!({})), StatusCode::ACCEPTED).await?;
        self.api.expect(Method::POST, &format!("/v1/sandbox/devices/{id}/scan"), key, Some(json!({})), StatusCode::OK).await?;
        if !self.wait_connected(s, Duration::from_secs(10)).await? {
            bail!("device {id} did not become connected within 10 s of the scan");
        }
        Ok(())
    }

    /// Polls the device until its status is `connected`; false if it is not by `within`.
    pub async fn wait_connected(&self, s: &Sender, within: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + within;
        let path = format!("/v1/devices/{}", s.device_id);
        loop {
            let device = self.api.expect(Method::GET, &path, Some(&s.api_key), None, StatusCode::OK).await?;
            if device.get("status").and_then(Value::as_str) == Some("connected") {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Who sends: a tenant's API key and its sandbox device.
#[derive(Clone, Debug)]
pub struct Sender {
    pub api_key: String,
    pub device_id: String,
    /// The device's own token (what the compat layers' clients send).
    pub device_token: String,
    pub tenant_id: String,
}

fn str_field(v: &Value, name: &str) -> anyhow::Result<String> {
    v.get(name).and_then(Value::as_str).map(String::from).with_context(|| format!("no string `{name}` in {v}"))
}

/// A free port on 127.0.0.1: bound, then released for the child to take.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// A small JSON client for Kirim's API.
#[derive(Clone)]
pub struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Self { client: Client::builder(TokioExecutor::new()).build_http(), base: format!("http://{addr}") }
    }

    /// One request with a bearer token and a JSON body; the status and the JSON answer
    /// (`null` when the body is empty or not JSON). Times out after 10 s.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = Request::builder().method(method.clone()).uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                request = request.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let exchange = async {
            let response = self.client.request(request.body(Full::new(body))?).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
        };
        tokio::time::timeout(Duration::from_secs(10), exchange).await.with_context(|| format!("{method} {path} timed out"))?
    }

    /// A GET answered with text (such as `/metrics`): the status and the body. Times out
    /// after 10 s.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<(StatusCode, String)> {
        let request = Request::builder().method(Method::GET).uri(format!("{}{path}", self.base)).body(Full::new(Bytes::new()))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let bytes = response.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        tokio::time::timeout(Duration::from_secs(10), exchange).await.with_context(|| format!("GET {path} timed out"))?
    }

    /// Like `call`, but any status other than `want` is an error showing the answer.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: StatusCode,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method.clone(), path, token, body).await.with_context(|| format!("{method} {path}"))?;
        if status != want {
            bail!("{method} {path} answered {status} (expected {want}): {answer}");
        }
        Ok(answer)
    }
}
