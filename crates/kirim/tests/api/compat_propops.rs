//! PropOps' WhatsApp API (reference 003): the approved templates with their variables, a
//! template send tied to a job (logged on its timeline), its documented error bodies, and the
//! limit of 20 sends a minute per user.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const BASE: &str = "/compat/propops";

async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{BASE}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The four templates of PropOps' example, in its order (so their numbers are 1 to 4), and
/// one still pending.
async fn documented_templates(app: &TestApp, key: &str) {
    let templates = [
        ("job_created", "Job Created Notification", "Job {{job_ref}} was raised for {{property_address}}: {{job_type}}."),
        ("contractor_assigned", "Contractor Assigned", "{{contractor_name}} ({{contractor_phone}}) will attend on {{scheduled_date}}."),
        ("appointment_reminder", "Appointment Reminder", "Hi {{tenant_first_name}}, we visit on {{appointment_date}} ({{time_window}})."),
        ("job_completed", "Job Completed", "Job {{job_ref}} was completed on {{completion_date}}."),
    ];
    for (name, display, body) in templates {
        let t = json!({"name": name, "display_name": display, "description": format!("{display}."), "language": "en_GB",
                       "category": "UTILITY", "body": body});
        let (status, got) = app.post("/v1/templates", key, t).await;
        assert_eq!(status, StatusCode::CREATED, "{got}");
    }
    let (status, got) = app.post("/v1/templates", key, json!({"name": "draft", "status": "PENDING", "body": "Hi {{x}}"})).await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
}

#[tokio::test]
async fn get_options_lists_the_approved_templates_with_their_variables() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("agency").await;
    documented_templates(&app, &key).await;
    let (status, body) = call(&app, Method::GET, "/api/whatsapp/get-options", Some(&key), None).await;
    assert_eq!((status, &body["success"]), (StatusCode::OK, &json!(true)), "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 4, "the pending one is left out: {body}");
    assert_eq!(
        data[2],
        json!({"id": 3, "name": "appointment_reminder", "display_name": "Appointment Reminder", "description": "Appointment Reminder.",
               "language": "en_GB", "category": "UTILITY", "status": "APPROVED",
               "variables": ["tenant_first_name", "appointment_date", "time_window"]})
    );
    assert_eq!(data[0]["variables"], json!(["job_ref", "property_address", "job_type"]));
    assert_eq!(data[1]["variables"], json!(["contractor_name", "contractor_phone", "scheduled_date"]));

    let (status, body) = call(&app, Method::GET, "/api/whatsapp/get-options", None, None).await;
    assert_eq!((status, &body["success"]), (StatusCode::UNAUTHORIZED, &json!(false)));
}

#[tokio::test]
async fn a_template_send_takes_its_values_from_the_job_and_is_logged_on_it() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("agency").await;
    documented_templates(&app, &key).await;
    let job = json!({"worker_phone": "+447911123456", "client_name": "Mrs Jane Hughes", "task": "Boiler repair",
                     "location": "12 Baker Street, London", "scheduled_for": "2026-12-03T14:00:00Z"});
    let (status, job) = app.post("/v1/jobs", &key, job).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_number = job["ref"].as_str().unwrap().trim_start_matches('J').parse::<i64>().unwrap();

    let send = json!({"job_id": job_number, "phone_number": "+447911123457", "template_id": 3});
    let (status, body) = call(&app, Method::POST, "/api/whatsapp/send", Some(&key), Some(send)).await;
    assert_eq!((status, &body["success"]), (StatusCode::OK, &json!(true)), "{body}");
    let data = &body["data"];
    assert_eq!((&data["recipient"], &data["template"]), (&json!("+447911123457"), &json!("appointment_reminder")));
    let sent = app.wait_message(&key, data["message_id"].as_str().unwrap(), "sent").await;
    assert_eq!(sent["content"]["text"]["body"], "Hi Jane, we visit on 3 Dec 2026 (14:00).");
    let (_, logged) = app.get(&format!("/v1/jobs/J{job_number}"), &key).await;
    let note = logged["timeline"].as_array().unwrap().iter().find(|e| e["message_id"] == data["message_id"]).cloned();
    assert!(note.is_some(), "the send is a case note on the job: {logged}");

    // The documented error bodies.
    let cases = [
        (json!({"phone_number": "+447911123457", "template_id": 3}), StatusCode::UNPROCESSABLE_ENTITY, "Job ID is required"),
        (
            json!({"job_id": job_number, "phone_number": "07911 123457", "template_id": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid phone number format. Use E.164 format, e.g. +447700900123",
        ),
        (json!({"job_id": 999, "phone_number": "+447911123457", "template_id": 3}), StatusCode::NOT_FOUND, "Job not found"),
        (json!({"job_id": job_number, "phone_number": "+447911123457", "template_id": 99}), StatusCode::NOT_FOUND, "Template not found"),
    ];
    for (request, status, error) in cases {
        let got = call(&app, Method::POST, "/api/whatsapp/send", Some(&key), Some(request.clone())).await;
        assert_eq!(got, (status, json!({"success": false, "error": error})), "{request}");
    }
    // The job knows no contractor's name: the variable is named, nothing is sent.
    let send = json!({"job_id": job_number, "phone_number": "+447911123457", "template_id": 2});
    let (status, body) = call(&app, Method::POST, "/api/whatsapp/send", Some(&key), Some(send)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("contractor_name"), "{body}");
    // PropOps' own example number is in Ofcom's range kept for drama: it can never receive a
    // message, and Kirim says so rather than queue a send that must fail.
    let send = json!({"job_id": job_number, "phone_number": "+447700900123", "template_id": 3});
    let (status, body) = call(&app, Method::POST, "/api/whatsapp/send", Some(&key), Some(send)).await;
    assert_eq!((status, &body["success"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(false)), "{body}");
}

#[tokio::test]
async fn sends_are_limited_to_twenty_a_minute_per_user_and_need_whatsapp() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("agency").await;
    let send = json!({"job_id": 7, "phone_number": "+447911123457", "template_id": 1});
    let (status, body) = call(&app, Method::POST, "/api/whatsapp/send", Some(&key), Some(send.clone())).await;
    assert_eq!((status, &body["error"]), (StatusCode::SERVICE_UNAVAILABLE, &json!("WhatsApp integration is not configured")));
    let (device, _) = app.device(&key, "phone").await;
    app.link(&key, &device).await;
    for _ in 0..19 {
        let (status, _) = call(&app, Method::POST, "/api/whatsapp/send", Some(&key), Some(send.clone())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "no job 7 yet");
    }
    let (status, body) = call(&app, Method::POST, "/api/whatsapp/send", Some(&key), Some(send.clone())).await;
    assert_eq!((status, &body["success"]), (StatusCode::TOO_MANY_REQUESTS, &json!(false)), "the 21st send in a minute: {body}");
    // Per user: another API key of the same account has its own 20.
    let (status, other) = app.post(&format!("/v1/tenants/{tenant}/keys"), ADMIN, json!({"name": "second user"})).await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let other = other["api_key"].as_str().unwrap().to_owned();
    let (status, _) = call(&app, Method::POST, "/api/whatsapp/send", Some(&other), Some(send)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
