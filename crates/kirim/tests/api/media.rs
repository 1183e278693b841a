//! Media: uploads (multipart and base64), downloads, deletion, type and size checks, links
//! fetched through the outbound guard (and stopped early when too large), and files that are
//! sent with the same bytes after a restart.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::files::{self, ENDLESS_BYTES, FileServer};

impl TestApp {
    /// Uploads `bytes` as the multipart field `file`, with extra text fields.
    async fn upload_multipart(&self, key: &str, bytes: Vec<u8>, name: &str, mime: &str, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let body = files::multipart(fields, &bytes, name, mime);
        let response = self
            .client
            .post(format!("{}/v1/media", self.base))
            .bearer_auth(key)
            .header("content-type", format!("multipart/form-data; boundary={}", files::MULTIPART_BOUNDARY))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn download(&self, key: &str, id: &str) -> (StatusCode, Option<String>, Vec<u8>) {
        let response = self.client.get(format!("{}/v1/media/{id}", self.base)).bearer_auth(key).send().await.unwrap();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        (response.status(), content_type, response.bytes().await.unwrap().to_vec())
    }
}

/// What the sandbox network received from `device`, the last message first found with `id`.
async fn on_the_wire(app: &TestApp, key: &str, device: &str, network_id: &str) -> Value {
    let path = format!("/v1/sandbox/devices/{device}/received");
    let body = app.wait_for(key, &path, |b| b["data"].as_array().unwrap().iter().any(|m| m["network_id"] == network_id)).await;
    body["data"].as_array().unwrap().iter().find(|m| m["network_id"] == network_id).unwrap().clone()
}

#[tokio::test]
async fn uploads_by_multipart_and_base64_download_and_delete() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("shop").await;
    let (_, other) = app.tenant("other").await;

    let (status, photo) = app.upload_multipart(&key, files::jpeg(), "proof.jpg", "image/jpeg", &[("type", "image")]).await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    let id = photo["id"].as_str().unwrap();
    assert!(id.starts_with("med_"), "{photo}");
    assert_eq!(
        (&photo["type"], &photo["direction"], &photo["mime_type"], &photo["filename"], &photo["size"]),
        (&json!("image"), &json!("upload"), &json!("image/jpeg"), &json!("proof.jpg"), &json!(files::jpeg().len()))
    );
    assert_eq!(photo["sha256"], files::sha256(&files::jpeg()));

    let (status, content_type, bytes) = app.download(&key, id).await;
    assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some("image/jpeg")));
    assert_eq!(bytes, files::jpeg(), "the same bytes come back");
    let (status, info) = app.get(&format!("/v1/media/{id}/info"), &key).await;
    assert_eq!((status, &info), (StatusCode::OK, &photo));

    // JSON with base64; the type is what the bytes are when none is given.
    let body = json!({"data": STANDARD.encode(files::pdf()), "filename": "invoice.pdf", "mime_type": "application/pdf"});
    let (status, doc) = app.post("/v1/media", &key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_eq!((&doc["type"], &doc["mime_type"], &doc["filename"]), (&json!("document"), &json!("application/pdf"), &json!("invoice.pdf")));
    let (_, _, bytes) = app.download(&key, doc["id"].as_str().unwrap()).await;
    assert_eq!(bytes, files::pdf());
    let data_url = format!("data:image/png;base64,{}", STANDARD.encode(files::png()));
    let (status, png) = app.post("/v1/media", &key, json!({"data": data_url})).await;
    assert_eq!((status, &png["mime_type"], &png["type"]), (StatusCode::CREATED, &json!("image/png"), &json!("image")), "{png}");

    let (status, list) = app.get("/v1/media?limit=2", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let (_, rest) = app.get(&format!("/v1/media?after={}", list["next"].as_str().unwrap()), &key).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);

    // Another tenant's file does not exist for them.
    for path in [format!("/v1/media/{id}"), format!("/v1/media/{id}/info")] {
        assert_error(&app.get(&path, &other).await, StatusCode::NOT_FOUND, "not_found");
    }
    assert_error(&app.call(Method::DELETE, &format!("/v1/media/{id}"), Some(&other), None).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.get("/v1/media/med_nonsense", &key).await, StatusCode::NOT_FOUND, "not_found");

    let (status, _) = app.call(Method::DELETE, &format!("/v1/media/{id}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&format!("/v1/media/{id}/info"), &key).await, StatusCode::NOT_FOUND, "not_found");
    assert!(!app.dir.path().join("media").join(id).exists(), "the file is gone from disk");
    assert_error(&app.call(Method::DELETE, &format!("/v1/media/{id}"), Some(&key), None).await, StatusCode::NOT_FOUND, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn files_that_are_not_what_they_claim_or_too_large_are_refused() {
    let app = TestApp::spawn().await;
    let (key, _) = app.connected_tenant("t").await;
    let field = |got: &(StatusCode, Value), status, code| assert_error(got, status, code)["error"]["field"].as_str().unwrap().to_owned();

    // A PDF that says it is a JPEG photo.
    let got = app.upload_multipart(&key, files::pdf(), "photo.jpg", "image/jpeg", &[("type", "image")]).await;
    assert_eq!(field(&got, StatusCode::UNPROCESSABLE_ENTITY, "media_type_unsupported"), "file");
    assert!(got.1["error"]["message"].as_str().unwrap().contains("PDF"), "{}", got.1);
    // A JPEG with the wrong type or name.
    let got = app.upload_multipart(&key, files::jpeg(), "a.jpg", "image/png", &[]).await;
    assert_eq!(field(&got, StatusCode::UNPROCESSABLE_ENTITY, "media_type_mismatch"), "mime_type");
    let got = app.upload_multipart(&key, files::jpeg(), "a.pdf", "image/jpeg", &[]).await;
    assert_eq!(field(&got, StatusCode::UNPROCESSABLE_ENTITY, "media_type_mismatch"), "filename");
    let got = app.upload_multipart(&key, b"MZ\x90\0\x03\0\0\0".to_vec(), "tool.exe", "application/octet-stream", &[]).await;
    assert_eq!(field(&got, StatusCode::UNPROCESSABLE_ENTITY, "media_type_unsupported"), "file");
    let got = app.upload_multipart(&key, files::jpeg(), "a.jpg", "image/jpeg", &[("type", "hologram")]).await;
    assert_eq!(field(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "type");
    let got = app.post("/v1/media", &key, json!({"data": "not base64!"})).await;
    assert_eq!(field(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "data");
    let got = app.post("/v1/media", &key, json!({"data": STANDARD.encode(files::jpeg()), "filename": "../../etc/passwd"})).await;
    assert_eq!(field(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "filename");

    // Over the default limit of 2 MB.
    let mut big = files::pdf();
    big.resize(2 * 1024 * 1024 + 1, b' ');
    let got = app.upload_multipart(&key, big.clone(), "big.pdf", "application/pdf", &[]).await;
    assert_eq!(field(&got, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large"), "file");
    let body = json!({"to": "+60123456789", "type": "document", "document": {"base64": STANDARD.encode(&big), "filename": "big.pdf"}});
    let got = app.post("/v1/messages", &key, body).await;
    assert_eq!(field(&got, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large"), "document.base64");

    // Inside a message, the same checks name the message's fields.
    let body = json!({"to": "+60123456789", "type": "image", "image": {"base64": STANDARD.encode(files::pdf())}});
    assert_eq!(
        field(&app.post("/v1/messages", &key, body).await, StatusCode::UNPROCESSABLE_ENTITY, "media_type_unsupported"),
        "image.base64"
    );
    let body = json!({"to": "+60123456789", "type": "audio", "audio": {"base64": STANDARD.encode(files::mp3()), "voice": true}});
    assert_eq!(field(&app.post("/v1/messages", &key, body).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "audio.voice");
    let body = json!({"to": "+60123456789", "type": "image", "image": {"media_id": "med_01jd3w5x8mq2v7h4k9r6t0b1cz"}});
    assert_eq!(field(&app.post("/v1/messages", &key, body).await, StatusCode::NOT_FOUND, "not_found"), "image.media_id");
    let (_, doc) = app.post("/v1/media", &key, json!({"data": STANDARD.encode(files::pdf())})).await;
    let body = json!({"to": "+60123456789", "type": "image", "image": {"media_id": doc["id"]}});
    assert_eq!(field(&app.post("/v1/messages", &key, body).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "image.media_id");

    let (_, list) = app.get("/v1/media", &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "nothing refused was kept: {list}");
    let (_, messages) = app.get("/v1/messages", &key).await;
    assert!(messages["data"].as_array().unwrap().is_empty(), "no message was accepted: {messages}");
    app.stop().await;
}

#[tokio::test]
async fn a_link_is_fetched_stored_and_sent_with_its_bytes() {
    let app = TestApp::spawn().await;
    let server = FileServer::start().await;
    let (key, device) = app.connected_tenant("t").await;
    let photo = server.serve("receipt.jpg", "image/jpeg", files::jpeg());
    let report = server.serve("June%20report.pdf", "application/octet-stream", files::pdf());

    let body = json!({"to": "+60123456789", "type": "image", "image": {"link": photo, "caption": "your receipt"}});
    let (status, msg) = app.post("/v1/messages", &key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{msg}");
    let image = &msg["content"]["image"];
    assert_eq!((&image["link"], &image["caption"], &image["mime_type"]), (&json!(photo), &json!("your receipt"), &json!("image/jpeg")));
    assert_eq!((&image["sha256"], &image["size"]), (&json!(files::sha256(&files::jpeg())), &json!(files::jpeg().len())));
    let media_id = image["media_id"].as_str().expect("the fetched file is stored");
    let (_, info) = app.get(&format!("/v1/media/{media_id}/info"), &key).await;
    assert_eq!((&info["direction"], &info["type"]), (&json!("fetched"), &json!("image")));

    let sent = app.wait_message(&key, msg["id"].as_str().unwrap(), "read").await;
    let wire = on_the_wire(&app, &key, &device, sent["network_id"].as_str().unwrap()).await;
    assert_eq!(wire["content"]["image"]["sha256"], files::sha256(&files::jpeg()), "the network got the fetched bytes: {wire}");

    // A document keeps the name from its link; the server's vague type does not matter.
    let body = json!({"to": "+60123456789", "type": "document", "document": {"link": report}});
    let (status, msg) = app.post("/v1/messages", &key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{msg}");
    let document = &msg["content"]["document"];
    assert_eq!((&document["filename"], &document["mime_type"]), (&json!("June report.pdf"), &json!("application/pdf")));

    // Wrong kind behind the link, a missing file, a redirect: refused at once, naming the field.
    let page = server.serve("page.html", "text/html", b"<!doctype html><title>Not a photo</title>".to_vec());
    for (link, status, code) in [
        (page, StatusCode::UNPROCESSABLE_ENTITY, "media_type_unsupported"),
        (server.url("/f/missing.jpg"), StatusCode::UNPROCESSABLE_ENTITY, "media_unreachable"),
        (server.url("/moved.jpg"), StatusCode::UNPROCESSABLE_ENTITY, "media_unreachable"),
    ] {
        let body = json!({"to": "+60123456789", "type": "image", "image": {"link": link}});
        let got = app.post("/v1/messages", &key, body).await;
        assert_eq!(assert_error(&got, status, code)["error"]["field"], "image.link", "{link}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_link_is_refused_before_the_download_completes() {
    let app = TestApp::spawn().await;
    let server = FileServer::start().await;
    let (key, _) = app.connected_tenant("t").await;

    // A Content-Length over the limit: refused before the body is read.
    let body = json!({"to": "+60123456789", "type": "image", "image": {"link": server.url("/huge.jpg")}});
    let got = app.post("/v1/messages", &key, body).await;
    assert_eq!(assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large")["error"]["field"], "image.link");
    let after_declared = server.sent();

    // No length at all, a body that would go on for a gigabyte: cut off at the limit.
    let body = json!({"to": "+60123456789", "type": "image", "image": {"link": server.url("/endless.jpg")}});
    let got = app.post("/v1/messages", &key, body).await;
    assert_eq!(assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "media_too_large")["error"]["field"], "image.link");
    let streamed = server.sent() - after_declared;
    // The limit is 2 MB; socket buffers let the server run a few MB ahead, no more.
    assert!(streamed < 32 * 1024 * 1024, "Kirim read on: the server handed over {streamed} of {ENDLESS_BYTES} bytes");
    assert!(after_declared < 32 * 1024 * 1024, "a declared length over the limit is not read: {after_declared} bytes sent");
    let (_, list) = app.get("/v1/media", &key).await;
    assert!(list["data"].as_array().unwrap().is_empty(), "nothing was stored: {list}");
    app.stop().await;
}

#[tokio::test]
async fn unsafe_links_are_refused_by_the_guard() {
    // No allow-list: loopback is refused as it would be in production.
    let app = TestApp::spawn_with(&[("KIRIM_OUTBOUND_ALLOW", "")]).await;
    let server = FileServer::start().await;
    let (key, _) = app.connected_tenant("t").await;
    let local = server.serve("a.jpg", "image/jpeg", files::jpeg());
    for (link, code) in [
        (local.as_str(), "url_not_allowed"),
        ("http://169.254.169.254/latest/meta-data/a.jpg", "url_not_allowed"),
        ("http://[::ffff:127.0.0.1]/a.jpg", "url_not_allowed"),
        ("http://10.0.0.8/a.jpg", "url_not_allowed"),
        ("http://localhost/a.jpg", "url_not_allowed"),
        ("http://user:pw@example.com/a.jpg", "invalid_field"),
        ("file:///etc/passwd", "invalid_field"),
    ] {
        let body = json!({"to": "+60123456789", "type": "image", "image": {"link": link}});
        let got = app.post("/v1/messages", &key, body).await;
        assert_eq!(assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, code)["error"]["field"], "image.link", "{link}: {}", got.1);
    }
    assert_eq!(server.sent(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_queued_file_is_sent_with_the_same_bytes_after_a_restart_and_checked() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("t").await;
    let (device, _) = app.device(&key, "phone").await;
    let (_, upload) = app.post("/v1/media", &key, json!({"data": STANDARD.encode(files::opus()), "type": "audio"})).await;
    assert_eq!(upload["mime_type"], "audio/ogg; codecs=opus", "{upload}");
    let body = json!({"to": "+60123456789", "device_id": device, "type": "audio", "audio": {"media_id": upload["id"], "voice": true}});
    let (status, voice) = app.post("/v1/messages", &key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{voice}");
    // A document given inline, in base64: stored, and the message keeps only its id.
    let body = json!({"to": "+60123456789", "device_id": device, "type": "document",
        "document": {"base64": STANDARD.encode(files::pdf()), "filename": "invoice.pdf", "caption": "June"}});
    let (status, doc) = app.post("/v1/messages", &key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{doc}");
    assert!(doc["content"]["document"].get("base64").is_none(), "the bytes are not kept in the message: {doc}");
    let doc_media = doc["content"]["document"]["media_id"].as_str().unwrap().to_owned();
    // A file damaged on disk is never sent.
    let (_, damaged) = app.post("/v1/media", &key, json!({"data": STANDARD.encode(files::mp4())})).await;
    let body = json!({"to": "+60123456789", "device_id": device, "type": "video", "video": {"media_id": damaged["id"]}});
    let (status, video) = app.post("/v1/messages", &key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{video}");

    // The device links only after a restart; the messages waited in the queue.
    let app = app.restart().await;
    let path = app.dir.path().join("media").join(damaged["id"].as_str().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[40] ^= 0xFF;
    std::fs::write(&path, bytes).unwrap();
    assert_error(&app.get(&format!("/v1/media/{}", damaged["id"].as_str().unwrap()), &key).await, StatusCode::GONE, "media_damaged");
    app.link(&key, &device).await;

    let sent = app.wait_message(&key, voice["id"].as_str().unwrap(), "read").await;
    let wire = on_the_wire(&app, &key, &device, sent["network_id"].as_str().unwrap()).await;
    let audio = &wire["content"]["audio"];
    assert_eq!((&audio["sha256"], &audio["voice"]), (&json!(files::sha256(&files::opus())), &json!(true)), "{wire}");
    assert_eq!(audio["mime_type"], "audio/ogg; codecs=opus");
    let sent = app.wait_message(&key, doc["id"].as_str().unwrap(), "read").await;
    let wire = on_the_wire(&app, &key, &device, sent["network_id"].as_str().unwrap()).await;
    assert_eq!(wire["content"]["document"]["sha256"], files::sha256(&files::pdf()));
    assert_eq!(wire["content"]["document"]["filename"], "invoice.pdf");
    let (_, _, bytes) = app.download(&key, &doc_media).await;
    assert_eq!(bytes, files::pdf());

    let failed = app.wait_message(&key, video["id"].as_str().unwrap(), "failed").await;
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("damaged")), "{failed}");
    app.stop().await;
}

#[tokio::test]
async fn every_media_kind_is_sent_from_an_upload() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("t").await;
    for (kind, bytes, mime) in [
        ("image", files::png(), "image/png"),
        ("video", files::mp4(), "video/mp4"),
        ("audio", files::mp3(), "audio/mpeg"),
        ("document", files::pdf(), "application/pdf"),
        ("sticker", files::webp(), "image/webp"),
    ] {
        let (status, media) = app.post("/v1/media", &key, json!({"data": STANDARD.encode(&bytes), "type": kind})).await;
        assert_eq!((status, &media["mime_type"]), (StatusCode::CREATED, &json!(mime)), "{kind}: {media}");
        let body = json!({"to": "+60123456789", "type": kind, kind: {"media_id": media["id"]}});
        let (status, msg) = app.post("/v1/messages", &key, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{kind}: {msg}");
        let sent = app.wait_message(&key, msg["id"].as_str().unwrap(), "read").await;
        let wire = on_the_wire(&app, &key, &device, sent["network_id"].as_str().unwrap()).await;
        assert_eq!(wire["content"][kind]["sha256"], files::sha256(&bytes), "{kind}: {wire}");
    }
    app.stop().await;
}
