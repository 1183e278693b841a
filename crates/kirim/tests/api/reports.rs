//! Reports end to end through the sandbox: real sends that end read or failed, the message
//! report's filters and numbered pages, today's realtime report and daily counts read in time
//! zones a day apart, bad input named by field, and tenant isolation.

use chrono::{Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// Sends a text and waits until it is final (`read`, or `failed` for a "not on WhatsApp" number).
async fn sent(app: &TestApp, key: &str, body: Value, until: &str) -> String {
    let (status, m) = app.post("/v1/messages", key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    app.wait_message(key, &id, until).await;
    id
}

fn text(to: &str, body: &str) -> Value {
    json!({"to": to, "type": "text", "text": {"body": body}})
}

fn ids(page: &Value) -> Vec<&String> {
    let data = page["data"].as_array().unwrap_or_else(|| panic!("{page}"));
    data.iter()
        .map(|m| match &m["id"] {
            Value::String(id) => id,
            other => panic!("a message without an id: {other}"),
        })
        .collect()
}

async fn report(app: &TestApp, key: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/reports/messages?{query}"), key).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

/// A tenant with a linked device and four final messages (one failed) and one received.
struct Traffic {
    key: String,
    device: String,
    read: String,
    tagged: String,
    location: String,
    failed: String,
    inbound: String,
}

async fn traffic(app: &TestApp) -> Traffic {
    let (key, device) = app.connected_tenant("shop").await;
    let read = sent(app, &key, text("012-345 6789", "hello"), "read").await;
    let mut tagged_body = text("+60123456780", "invoice");
    tagged_body["ref_id"] = json!("invoice-42");
    let tagged = sent(app, &key, tagged_body, "read").await;
    let location = json!({"to": "+60123456780", "type": "location", "location": {"latitude": 3.15, "longitude": 101.71}});
    let location = sent(app, &key, location, "read").await;
    let failed = sent(app, &key, text("+60199990001", "nobody there"), "failed").await;
    let (status, body) =
        app.post(&format!("/v1/sandbox/devices/{device}/inbound"), &key, json!({"from": "+60123456789", "text": "thanks"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = app.get("/v1/messages?direction=inbound", &key).await;
    let inbound = list["data"][0]["id"].as_str().unwrap().to_owned();
    Traffic { key, device, read, tagged, location, failed, inbound }
}

#[tokio::test]
async fn the_message_report_filters_pages_and_counts() {
    let app = TestApp::spawn().await;
    let t = traffic(&app).await;
    let key = &t.key;

    let all = report(&app, key, "").await;
    assert_eq!((&all["total"], &all["page"], &all["per_page"], &all["total_pages"]), (&json!(5), &json!(1), &json!(50), &json!(1)));
    assert_eq!(ids(&all), [&t.inbound, &t.failed, &t.location, &t.tagged, &t.read], "newest first");
    assert_eq!(all["data"][1]["status"], "failed");
    assert!(all["data"][1]["error"].as_str().is_some_and(|e| !e.is_empty()), "{}", all["data"][1]);

    let today = Utc::now().date_naive();
    let yesterday = today - Duration::days(1);
    let cases: Vec<(String, Vec<&String>)> = vec![
        ("status=failed".into(), vec![&t.failed]),
        ("status=read&direction=outbound".into(), vec![&t.location, &t.tagged, &t.read]),
        ("phone=0199990001".into(), vec![&t.failed]),
        ("phone=%2B60123456780".into(), vec![&t.location, &t.tagged]),
        ("ref_id=invoice-42".into(), vec![&t.tagged]),
        ("type=location".into(), vec![&t.location]),
        ("type=TEXT&direction=inbound".into(), vec![&t.inbound]),
        (format!("device_id={}&message_id={},{}", t.device, t.read, t.failed), vec![&t.failed, &t.read]),
        (format!("date={today}"), vec![&t.inbound, &t.failed, &t.location, &t.tagged, &t.read]),
        (format!("date={yesterday}"), vec![]),
        (format!("from={yesterday}&to={yesterday}"), vec![]),
        (format!("from={yesterday}&to={today}&status=failed"), vec![&t.failed]),
    ];
    for (query, want) in cases {
        let got = report(&app, key, &query).await;
        assert_eq!(ids(&got), want, "{query}");
        assert_eq!(got["total"], json!(want.len()), "{query}: the total counts the filter's messages");
    }

    let page = report(&app, key, "page=2&perPage=2").await;
    assert_eq!(ids(&page), [&t.location, &t.tagged]);
    assert_eq!((&page["total"], &page["page"], &page["per_page"], &page["total_pages"]), (&json!(5), &json!(2), &json!(2), &json!(3)));
    let past = report(&app, key, "page=9&per_page=2").await;
    assert_eq!((ids(&past).len(), &past["total"]), (0, &json!(5)), "a page past the end is empty, with the total");

    // A device token reports on its own device only.
    let (other_device, token) = app.device(key, "spare").await;
    assert_eq!(report(&app, &token, "").await["total"], 0);
    let theirs = app.get(&format!("/v1/reports/messages?device_id={}", t.device), &token).await;
    assert_eq!(assert_error(&theirs, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "device_id");
    assert_eq!(report(&app, key, &format!("device_id={other_device}")).await["total"], 0);

    // Another tenant sees nothing of it.
    let (_, stranger) = app.tenant("stranger").await;
    assert_eq!(report(&app, &stranger, "").await["total"], 0);
    assert_eq!(report(&app, &stranger, &format!("message_id={}", t.read)).await["total"], 0);
    let spy = app.get(&format!("/v1/reports/messages?device_id={}", t.device), &stranger).await;
    assert_eq!(assert_error(&spy, StatusCode::NOT_FOUND, "not_found")["error"]["field"], "device_id");
    app.stop().await;
}

/// Today's date in `tz`.
fn local_today(tz: Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

#[tokio::test]
async fn realtime_and_daily_reports_read_days_in_the_time_zone() {
    let app = TestApp::spawn().await;
    let t = traffic(&app).await;
    let key = &t.key;
    // Kiritimati (UTC+14) and Pago Pago (UTC−11) are 25 hours apart: never on the same date.
    for zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"] {
        let tz: Tz = zone.parse().unwrap();
        let date = local_today(tz);
        let (status, rt) = app.get(&format!("/v1/reports/realtime?timezone={zone}&per_page=2"), key).await;
        assert_eq!(status, StatusCode::OK, "{rt}");
        assert_eq!((&rt["date"], &rt["timezone"], &rt["total"]), (&json!(date.to_string()), &json!(zone), &json!(5)), "{rt}");
        assert_eq!(
            (&rt["counts"]["read"], &rt["counts"]["failed"], &rt["counts"]["received"], &rt["counts"]["pending"]),
            (&json!(3), &json!(1), &json!(1), &json!(0))
        );
        assert_eq!(ids(&rt), [&t.inbound, &t.failed], "the latest first");
        assert_eq!(rt["total_pages"], 3);

        let utc_today = Utc::now().date_naive();
        let (from, to) = (utc_today - Duration::days(2), utc_today + Duration::days(2));
        let (status, daily) = app.get(&format!("/v1/reports/daily?from={from}&to={to}&timezone={zone}"), key).await;
        assert_eq!(status, StatusCode::OK, "{daily}");
        let days = daily["days"].as_array().unwrap();
        assert_eq!(days.len(), 5, "every day of the range, empty ones too");
        let busy: Vec<&Value> = days.iter().filter(|d| d["total"] != 0).collect();
        assert_eq!(busy.len(), 1, "{zone}: {daily}");
        assert_eq!(
            (&busy[0]["date"], &busy[0]["counts"]["failed"], &busy[0]["total"]),
            (&json!(date.to_string()), &json!(1), &json!(5)),
            "{zone}"
        );
        let midnight = date.and_hms_opt(0, 0, 0).unwrap().and_local_timezone(tz).unwrap().with_timezone(&Utc);
        let starts: chrono::DateTime<Utc> = busy[0]["from"].as_str().unwrap().parse().unwrap();
        assert_eq!(starts, midnight, "{zone}: a day starts at local midnight");
        assert_eq!((&daily["total"], &daily["counts"]["read"]), (&json!(5), &json!(3)));
    }
    let (_, outbound) = app.get(&format!("/v1/reports/daily?from={0}&to={0}&direction=inbound", local_today(Tz::UTC)), key).await;
    assert_eq!(outbound["total"], 1, "{outbound}");

    let (_, stranger) = app.tenant("stranger").await;
    let (_, theirs) = app.get("/v1/reports/realtime", &stranger).await;
    assert_eq!((&theirs["total"], &theirs["counts"]["read"]), (&json!(0), &json!(0)));
    app.stop().await;
}

#[tokio::test]
async fn bad_report_parameters_name_the_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("t").await;
    let cases = [
        ("/v1/reports/messages?status=delivred", "status"),
        ("/v1/reports/messages?type=gif", "type"),
        ("/v1/reports/messages?direction=up", "direction"),
        ("/v1/reports/messages?page=0", "page"),
        ("/v1/reports/messages?page=first", "page"),
        ("/v1/reports/messages?per_page=0", "per_page"),
        ("/v1/reports/messages?per_page=1001", "per_page"),
        ("/v1/reports/messages?date=2026-02-30", "date"),
        ("/v1/reports/messages?date=2026-01-01&from=2026-01-01", "date"),
        ("/v1/reports/messages?from=yesterday", "from"),
        ("/v1/reports/messages?from=2026-01-02&to=2026-01-01", "to"),
        ("/v1/reports/messages?timezone=Mars/Olympus", "timezone"),
        ("/v1/reports/messages?phone=not-a-phone", "phone"),
        ("/v1/reports/messages?message_id=abc", "message_id"),
        ("/v1/reports/messages?device_id=abc", "device_id"),
        ("/v1/reports/messages?colour=red", "colour"),
        ("/v1/reports/realtime?timezone=Nowhere", "timezone"),
        ("/v1/reports/realtime?date=2026-01-01", "date"),
        ("/v1/reports/daily?to=2026-01-01", "from"),
        ("/v1/reports/daily?from=2026-01-01", "to"),
        ("/v1/reports/daily?from=2026-01-01&to=2025-12-31", "to"),
        ("/v1/reports/daily?from=2025-01-01&to=2026-01-02", "to"),
        ("/v1/reports/daily?from=01/02/2026&to=2026-01-02", "from"),
    ];
    for (path, field) in cases {
        let got = app.get(path, &key).await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", got.1);
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")["error"]["field"], field, "{path}");
    }
    let (status, body) = app.get("/v1/reports/messages", "kk_not-a-key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, spec) = app.call(reqwest::Method::GET, "/openapi.json", None, None).await;
    for path in ["/v1/reports/messages", "/v1/reports/realtime", "/v1/reports/daily", "/v1/agents/{id}", "/v1/conversations/assign"] {
        assert!(spec["paths"][path]["get"].is_object() || spec["paths"][path]["post"].is_object(), "{path} is documented");
    }
    app.stop().await;
}
