//! Driving one run: setup over the API, the load, and the samples taken meanwhile.

use super::*;

pub(super) async fn drive(kirim: &Kirim, receiver: &Receiver, admin: &str, args: &E2eArgs) -> anyhow::Result<E2eFigures> {
    let pid = kirim.pid().context("kirim has no process id")?;
    let api = &kirim.api;

    // Setup: a tenant, the devices, linked, and the webhook.
    let tenant = api.expect(Method::POST, "/v1/tenants", Some(admin), Some(json!({"name": "bench-e2e"})), StatusCode::CREATED).await?;
    let key = tenant.get("api_key").and_then(Value::as_str).context("no api_key in the created tenant")?.to_string();
    let began = Instant::now();
    let devices = create_devices(api, &key, args.devices).await?;
    let created_s = began.elapsed().as_secs_f64();
    eprintln!("created {} devices in {created_s:.1} s; linking them…", devices.len());
    let began = Instant::now();
    link_devices(api, &key, &devices).await?;
    let linked_s = began.elapsed().as_secs_f64();
    eprintln!("all {} devices connected in {linked_s:.1} s", devices.len());
    let hook = json!({"url": receiver.url(), "event_types": [receiver::EVENT_TYPE], "description": "kirim-bench e2e"});
    let hook = api
        .expect(Method::POST, "/v1/webhooks", Some(&key), Some(hook), StatusCode::CREATED)
        .await
        .context("registering the webhook (a loopback receiver needs KIRIM_OUTBOUND_ALLOW=127.0.0.1/32, which the bench sets)")?;
    let secret = hook.get("secret").and_then(Value::as_str).context("no secret in the created webhook")?;
    receiver.set_secret(secret)?;

    // The load: request n goes to device n mod D, to one of several thousand numbers.
    let bodies = Arc::new(bodies(&devices));
    let run = Arc::new(Run {
        accepts: Mutex::new(AcceptLog { ids: Vec::with_capacity(args.messages as usize), ..AcceptLog::default() }),
        samples: Mutex::new(Vec::new()),
        max_rss: Mutex::new(0),
        kirim_gone: AtomicBool::new(false),
    });
    let sample_every = args.sample_every;
    let on_success = {
        let run = run.clone();
        Arc::new(move |body: &[u8], at: tokio::time::Instant| {
            let at = at.into_std();
            let mut log = lock(&run.accepts);
            match serde_json::from_slice::<AcceptedBody<'_>>(body) {
                Ok(b) => {
                    log.ids.push(b.id.into());
                    if (log.ids.len() as u64 - 1).is_multiple_of(sample_every) {
                        let index = log.ids.len() - 1;
                        log.samples.push((index, at));
                    }
                }
                Err(e) => {
                    log.without_id += 1;
                    if log.first_without_id.is_none() {
                        log.first_without_id = Some(format!("{e}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])));
                    }
                }
            }
            log.first.get_or_insert(at);
            log.last = Some(at);
        })
    };
    let spec = LoadSpec {
        addr: kirim.addr,
        path: "/v1/messages".into(),
        authorization: Some(format!("Bearer {key}")),
        body: {
            let bodies = bodies.clone();
            Arc::new(move |_conn, n| bodies[(n % bodies.len() as u64) as usize].clone())
        },
        connections: args.connections,
        warmup: Duration::ZERO,
        duration: args.max_send_time,
        grace: Duration::from_secs(30),
        max_requests: Some(args.messages),
        capture_ids: false,
        on_success: Some(on_success),
    };

    let start = Instant::now();
    let cpu_before = CpuSnapshot::take(pid);
    let memory_watch = tokio::spawn(watch_memory(pid, run.clone()));
    let sampler = tokio::spawn(sample(api.clone(), pid, start, run.clone(), receiver.counter()));
    eprintln!("sending {} messages…", args.messages);
    let load = loadgen::run(spec).await;
    let send_done = Instant::now();
    let load = match load {
        Ok(load) => load,
        Err(e) => {
            memory_watch.abort();
            sampler.abort();
            return Err(e.context("running the load"));
        }
    };
    let accepted = lock(&run.accepts).ids.len() as u64;
    eprintln!(
        "sending ended after {:.1} s: {accepted} accepted, {} errors; waiting up to {:?} for the webhooks…",
        send_done.duration_since(start).as_secs_f64(),
        load.errors(),
        args.drain_timeout
    );

    // Drain: until every accepted message has its webhook, Kirim exits, or the timeout.
    let deadline = send_done + args.drain_timeout;
    while Instant::now() < deadline {
        if receiver.distinct() >= accepted {
            break;
        }
        if run.kirim_gone.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_end = Instant::now();
    let cpu_after = CpuSnapshot::take(pid);
    let hwm = procstat::memory(pid).map(|m| m.hwm);
    memory_watch.abort();
    sampler.abort();
    let kirim_gone = run.kirim_gone.load(Ordering::Relaxed) || procstat::exited(pid);

    let log = std::mem::take(&mut *lock(&run.accepts));
    let samples = std::mem::take(&mut *lock(&run.samples));
    let max_rss = *lock(&run.max_rss);
    Ok(figures(Inputs {
        args,
        devices: devices.len(),
        created_s,
        linked_s,
        load,
        log,
        receiver,
        start,
        send_done,
        drain_end,
        kirim_gone,
        hwm,
        max_rss,
        cpu_before,
        cpu_after,
        samples,
    }))
}

/// Creates `n` sandbox devices with pacing off, 16 at a time; their ids in order.
async fn create_devices(api: &Api, key: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let ids = for_each(n, 16, |i| {
        let (api, key) = (api.clone(), key.to_string());
        async move {
            let body = json!({"name": format!("bench-{i}"), "connector": "sandbox", "settings": {"pacing_ms": 0, "pacing_jitter_ms": 0}});
            let device = api.expect(Method::POST, "/v1/devices", Some(&key), Some(body), StatusCode::CREATED).await?;
            device.get("id").and_then(Value::as_str).map(String::from).with_context(|| format!("no id in the created device: {device}"))
        }
    })
    .await?;
    Ok(ids)
}

/// Starts linking every device and has the simulated phone scan it, 16 at a time, then
/// waits until all of them are connected.
async fn link_devices(api: &Api, key: &str, devices: &[String]) -> anyhow::Result<()> {
    for_each(devices.len(), 16, |i| {
        let (api, key, id) = (api.clone(), key.to_string(), devices[i].clone());
        async move {
            api.expect(Method::POST, &format!("/v1/devices/{id}/connect"), Some(&key), Some(json!({})), StatusCode::ACCEPTED).await?;
            api.expect(Method::POST, &format!("/v1/sandbox/devices/{id}/scan"), Some(&key), Some(json!({})), StatusCode::OK).await?;
            Ok(())
        }
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30) + Duration::from_millis(20 * devices.len() as u64);
    loop {
        let list = api.expect(Method::GET, "/v1/devices", Some(key), None, StatusCode::OK).await?;
        let all = list.get("data").and_then(Value::as_array).context("no data array in GET /v1/devices")?;
        let wanted: HashSet<&str> = devices.iter().map(String::as_str).collect();
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        for d in all.iter().filter(|d| d.get("id").and_then(Value::as_str).is_some_and(|id| wanted.contains(id))) {
            *statuses.entry(d.get("status").and_then(Value::as_str).unwrap_or("?").to_string()).or_default() += 1;
        }
        if statuses.get("connected").copied().unwrap_or(0) == devices.len() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("not every device became connected after the scans: {statuses:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `task(i)` for i in 0..n with at most `parallel` at once; the results in order.
async fn for_each<T, F, Fut>(n: usize, parallel: usize, task: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < n || !running.is_empty() {
        while next < n && running.len() < parallel {
            let fut = task(next);
            let i = next;
            running.spawn(async move { (i, fut.await) });
            next += 1;
        }
        if let Some(done) = running.join_next().await {
            let (i, result) = done.context("a setup task panicked")?;
            results[i] = Some(result?);
        }
    }
    results.into_iter().map(|r| r.context("a setup task did not finish")).collect()
}

/// The request bodies: body j is sent from device j mod D to number j, so request n (which
/// uses body n mod len, a multiple of D) goes round-robin over the devices.
pub(super) fn bodies(devices: &[String]) -> Vec<Bytes> {
    let per_device = 4096usize.div_ceil(devices.len()).max(1);
    let len = devices.len() * per_device;
    (0..len)
        .map(|j| {
            // +60 12-3xx xxxx: valid Malaysian mobile numbers, none of them a sandbox device's
            // own (those are generated as +6011…) nor "not on WhatsApp" (+6019999…).
            let body = json!({
                "device_id": devices[j % devices.len()],
                "to": format!("+60123{:06}", j % 1_000_000),
                "type": "text",
                "text": {"body": format!("Your booking #{} is confirmed. See you at 10:{:02}.", 10_000 + j, j % 60)},
            });
            Bytes::from(body.to_string())
        })
        .collect()
}

/// Every 250 ms: Kirim's VmRSS (the maximum is kept) and whether it is still running.
async fn watch_memory(pid: u32, run: Arc<Run>) {
    loop {
        match procstat::memory(pid) {
            Some(m) => {
                let mut max = lock(&run.max_rss);
                *max = (*max).max(m.rss);
            }
            None if procstat::exited(pid) => {
                run.kirim_gone.store(true, Ordering::Relaxed);
                return;
            }
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every second: what Kirim's metrics say, what the bench counted, Kirim's memory and CPU;
/// a progress line on stderr every 5 s.
async fn sample(api: Api, pid: u32, start: Instant, run: Arc<Run>, received: impl Fn() -> u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let pid_s = pid.to_string();
    let mut last_cpu: Option<(Instant, f64)> = None;
    let mut n = 0u64;
    loop {
        tick.tick().await;
        let metrics = match api.get_text("/metrics").await {
            Ok((StatusCode::OK, text)) => Some(text),
            _ => None,
        };
        let m = |name: &str, label: Option<(&str, &str)>| metrics.as_deref().and_then(|t| metric(t, name, label)).map(|v| v as u64);
        let now = Instant::now();
        let cpu = procstat::cpu_seconds(&pid_s);
        let kirim_cores = match (last_cpu, cpu) {
            (Some((at, before)), Some(c)) if now > at => Some((c - before) / now.duration_since(at).as_secs_f64()),
            _ => None,
        };
        if let Some(c) = cpu {
            last_cpu = Some((now, c));
        }
        let unsuccessful = match (
            m("kirim_webhook_attempts_total", Some(("outcome", "retry"))),
            m("kirim_webhook_attempts_total", Some(("outcome", "failed"))),
        ) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        let s = Sample {
            t_s: now.duration_since(start).as_secs_f64(),
            accepted: lock(&run.accepts).ids.len() as u64,
            sent: m("kirim_send_attempts_total", Some(("outcome", "sent"))),
            webhook_succeeded: m("kirim_webhook_attempts_total", Some(("outcome", "succeeded"))),
            webhook_unsuccessful: unsuccessful,
            received: received(),
            pending: m("kirim_queue_depth", Some(("status", "pending"))),
            rss_mib: procstat::memory(pid).map(|m| m.rss as f64 / MIB),
            kirim_cores,
        };
        n += 1;
        if n.is_multiple_of(5) {
            let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
            eprintln!(
                "  {:>5.0}s accepted {:>7} | sent {:>7} | webhooks received {:>7} | pending {:>7} | rss {:>4} MiB | kirim {} cores",
                s.t_s,
                s.accepted,
                opt(s.sent),
                s.received,
                opt(s.pending),
                s.rss_mib.map_or("?".into(), |v| format!("{v:.0}")),
                s.kirim_cores.map_or("?".into(), |v| format!("{v:.2}")),
            );
        }
        lock(&run.samples).push(s);
    }
}

/// The sum of a metric's samples whose labels include `label` (all of them without one).
pub(super) fn metric(text: &str, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (labels, value) = if let Some(inner) = rest.strip_prefix('{') {
            let Some((labels, value)) = inner.split_once('}') else { continue };
            (labels, value)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue; // another metric whose name starts with this one
        };
        if let Some((k, v)) = label
            && !labels.split(',').any(|pair| pair.trim() == format!("{k}=\"{v}\""))
        {
            continue;
        }
        if let Some(v) = value.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}
