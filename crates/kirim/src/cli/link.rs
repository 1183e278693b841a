//! `kirim device link <id>`: links a device from a terminal, through a running gateway's API.
//! It starts linking, draws each QR code as it comes (or shows the pairing code), and returns
//! once the phone is linked — or says why linking stopped.

use std::time::Duration;

use anyhow::{Context, bail};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};
use tokio::time::Instant;

/// How often the device is looked at while waiting.
const POLL: Duration = Duration::from_millis(500);

pub struct LinkArgs<'a> {
    pub url: &'a str,
    pub key: &'a str,
    pub device: &'a str,
    pub timeout: Duration,
}

struct Api<'a> {
    client: reqwest::Client,
    base: &'a str,
    auth: String,
}

impl Api<'_> {
    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response =
            request.header(AUTHORIZATION, &self.auth).send().await.with_context(|| format!("reaching Kirim at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no details");
            bail!("Kirim answered {status}: {message}");
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.client.get(format!("{}{path}", self.base))).await
    }
}

pub async fn link(args: LinkArgs<'_>) -> anyhow::Result<()> {
    let api = Api { client: reqwest::Client::new(), base: args.url.trim_end_matches('/'), auth: format!("Bearer {}", args.key) };
    let path = format!("/v1/devices/{}", args.device);
    let device = api.get(&path).await?;
    if device["status"] == "connected" {
        println!("{} is already linked to {}", args.device, device["phone"].as_str().unwrap_or("its phone"));
        return Ok(());
    }
    api.call(api.client.post(format!("{}{path}/connect", api.base)).json(&json!({"method": "qr"}))).await?;
    let deadline = Instant::now() + args.timeout;
    let mut shown: Option<String> = None;
    loop {
        let device = api.get(&path).await?;
        let status = device["status"].as_str().unwrap_or_default();
        match status {
            "connected" => {
                println!("linked: {} is now {}", args.device, device["phone"].as_str().unwrap_or("connected"));
                return Ok(());
            }
            "awaiting_scan" => {
                let qr = api.get(&format!("{path}/qr")).await?;
                if let Some(code) = qr["qr"].as_str().filter(|c| shown.as_deref() != Some(*c)) {
                    let drawn = QrCode::new(code.as_bytes()).context("drawing the QR code")?;
                    let image = drawn.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build();
                    println!("{image}");
                    println!("Scan this with WhatsApp → Linked devices → Link a device (it expires at {}).", qr["expires_at"]);
                    shown = Some(code.to_owned());
                }
            }
            "link_expired" | "logged_out" | "banned" | "conflict" | "outdated" | "disconnected" => {
                let detail = device["status_detail"].as_str().map(|d| format!(": {d}")).unwrap_or_default();
                bail!("linking stopped, the device is {status}{detail}; run the command again to retry");
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            bail!("the device was not linked within {} s (it is {status})", args.timeout.as_secs());
        }
        tokio::time::sleep(POLL).await;
    }
}
