//! Templates: CRUD with variables derived from the body, status filtering, sending by id with
//! validated variables (missing and unknown ones named), approval, and the job "case note".

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn template(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, t) = app.post("/v1/templates", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    t
}

fn reminder() -> Value {
    json!({"name": "appointment_reminder", "display_name": "Appointment Reminder", "language": "en_GB",
        "body": "Hi {{tenant_first_name}}, we visit on {{ appointment_date }} ({{time_window}}). See you, {{tenant_first_name}}!"})
}

#[tokio::test]
async fn templates_are_created_listed_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let t = template(&app, &key, reminder()).await;
    assert_eq!(t["variables"], json!(["tenant_first_name", "appointment_date", "time_window"]));
    assert_eq!((&t["status"], &t["category"], &t["language"]), (&json!("APPROVED"), &json!("UTILITY"), &json!("en_GB")));
    let id = t["id"].as_str().unwrap();
    assert_error(&app.post("/v1/templates", &key, reminder()).await, StatusCode::CONFLICT, "template_exists");
    let pending = template(&app, &key, json!({"name": "job_completed", "status": "pending", "body": "Job {{job_ref}} is done"})).await;
    assert_eq!(pending["status"], json!("PENDING"));

    let (_, approved) = app.get("/v1/templates?status=APPROVED", &key).await;
    assert_eq!(approved["data"].as_array().unwrap().len(), 1);
    let (_, all) = app.get("/v1/templates", &key).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);

    let (status, changed) = app.call(Method::PATCH, &format!("/v1/templates/{id}"), Some(&key), Some(json!({"body": "Hi {{name}}"}))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((&changed["variables"], &changed["name"]), (&json!(["name"]), &json!("appointment_reminder")));

    for (body, field) in [
        (json!({"name": "x", "body": "Hi {{first name}}"}), "body"),
        (json!({"name": "x", "body": "Hi {{name"}), "body"),
        (json!({"name": "Bad Name", "body": "x"}), "name"),
        (json!({"name": "x"}), "body"),
        (json!({"name": "x", "body": "x", "category": "PROMO"}), "category"),
        (json!({"name": "x", "body": "x", "status": "LIVE"}), "status"),
    ] {
        let err = assert_error(&app.post("/v1/templates", &key, body.clone()).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(err["error"]["field"], json!(field), "{body}");
    }

    let (other, _) = app.connected_tenant("other").await;
    assert_error(&app.get(&format!("/v1/templates/{id}"), &other).await, StatusCode::NOT_FOUND, "not_found");
    let (status, _) = app.call(Method::DELETE, &format!("/v1/templates/{id}"), Some(&other), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::DELETE, &format!("/v1/templates/{id}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&format!("/v1/templates/{id}"), &key).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn a_template_is_sent_with_its_variables_and_logged_on_the_job() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let t = template(&app, &key, reminder()).await;
    let send = format!("/v1/templates/{}/send", t["id"].as_str().unwrap());

    let err = assert_error(
        &app.post(&send, &key, json!({"to": "+447911123456", "variables": {"tenant_first_name": "Siti", "time": "9am"}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_variables",
    );
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("`appointment_date`") && message.contains("`time_window`") && message.contains("unknown `time`"), "{message}");
    assert_eq!(err["error"]["field"], json!("variables"));

    let values = json!({"tenant_first_name": "Siti", "appointment_date": "2 December", "time_window": 9});
    let (status, sent) = app.post(&send, &key, json!({"to": "+447911123456", "variables": values})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["template"], json!("appointment_reminder"));
    assert_eq!(sent["message"]["content"]["text"]["body"], json!("Hi Siti, we visit on 2 December (9). See you, Siti!"));

    let (status, job) = app
        .post("/v1/jobs", &key, json!({"worker_phone": "0123000001", "client_name": "Siti", "task": "Fix tap", "location": "Unit 3"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let (status, noted) = app.post(&send, &key, json!({"to": "+447911123456", "variables": values, "job_id": "J1"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{noted}");
    assert_eq!(noted["job_id"], job["id"]);
    let message_id = noted["message"]["id"].as_str().unwrap();
    app.wait_message(&key, message_id, "delivered").await;
    let (_, got) = app.get(&format!("/v1/jobs/{}", job["id"].as_str().unwrap()), &key).await;
    let note = got["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == json!("message")).expect("a case note").clone();
    assert_eq!(
        (&note["message_id"], &note["detail"]["template"], &note["detail"]["to"]),
        (&json!(message_id), &json!("appointment_reminder"), &json!("+447911123456"))
    );
    assert!(["delivered", "read"].contains(&note["message_status"].as_str().unwrap()), "{note}");
    let (_, events) = app.get("/v1/events?type=job.note", &key).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);

    // A retry with the same key is the same message, not a second note.
    let retry = || {
        app.client
            .post(format!("{}{send}", app.base))
            .bearer_auth(&key)
            .header("Idempotency-Key", "note-1")
            .json(&json!({"variables": values, "job_id": job["id"]}))
            .send()
    };
    let first: Value = retry().await.unwrap().json().await.unwrap();
    let again = retry().await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["message"]["id"], first["message"]["id"]);
    assert_eq!(first["message"]["to"], json!("+60123000001"), "with a job and no `to`, the worker gets it");
    let (_, got) = app.get(&format!("/v1/jobs/{}", job["id"].as_str().unwrap()), &key).await;
    assert_eq!(got["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == json!("message")).count(), 2);

    let pending = template(&app, &key, json!({"name": "later", "status": "PENDING", "body": "x"})).await;
    let path = format!("/v1/templates/{}/send", pending["id"].as_str().unwrap());
    assert_error(&app.post(&path, &key, json!({"to": "+447911123456"})).await, StatusCode::CONFLICT, "template_not_approved");
    assert_error(&app.post(&send, &key, json!({"variables": values, "job_id": "J7"})).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.post(&send, &key, json!({"variables": values})).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    app.stop().await;
}
