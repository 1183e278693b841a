//! Files people send to a device: the message is stored at once with a `media_id`, the file is
//! downloaded through the device's connector on the first read, then kept like an upload.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::files;

/// `from` sends `kind` with these bytes to the device; returns the stored message.
async fn receive(app: &TestApp, key: &str, device: &str, kind: &str, bytes: &[u8], extra: Value) -> Value {
    let mut file = json!({"base64": STANDARD.encode(bytes)});
    file.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let body = json!({"from": "+60123000001", "type": kind, kind: file});
    let (status, sent) = app.post(&format!("/v1/sandbox/devices/{device}/inbound"), key, body).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let network_id = sent["network_id"].as_str().unwrap().to_owned();
    let list = app
        .wait_for(key, "/v1/messages?direction=inbound", |b| b["data"].as_array().unwrap().iter().any(|m| m["network_id"] == network_id))
        .await;
    list["data"].as_array().unwrap().iter().find(|m| m["network_id"] == network_id).unwrap().clone()
}

async fn download(app: &TestApp, key: &str, id: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = app.client.get(format!("{}/v1/media/{id}", app.base)).bearer_auth(key).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_received_photo_is_downloaded_on_first_read_and_kept_after_the_device_goes_offline() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("shop").await;
    let (_, other) = app.tenant("other").await;
    let photo = files::jpeg();

    let message = receive(&app, &key, &device, "image", &photo, json!({"caption": "the receipt"})).await;
    let image = &message["content"]["image"];
    assert_eq!(image["caption"], "the receipt");
    let media_id = image["media_id"].as_str().expect("a received file has a media_id").to_owned();
    assert!(media_id.starts_with("med_"), "{media_id}");

    // Another tenant cannot read (or make Kirim download) the file.
    assert_error(&app.get(&format!("/v1/media/{media_id}/info"), &other).await, StatusCode::NOT_FOUND, "not_found");

    let (status, info) = app.get(&format!("/v1/media/{media_id}/info"), &key).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(
        (&info["direction"], &info["type"], &info["mime_type"], &info["size"], &info["sha256"]),
        (&json!("inbound"), &json!("image"), &json!("image/jpeg"), &json!(photo.len()), &json!(files::sha256(&photo)))
    );
    let (status, headers, bytes) = download(&app, &key, &media_id).await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (StatusCode::OK, "image/jpeg"));
    assert_eq!(bytes, photo);

    // Downloaded once, the file no longer needs the network.
    let (status, body) = app.post(&format!("/v1/sandbox/devices/{device}/disconnect"), &key, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    app.wait_device(&key, &device, "disconnected").await;
    assert_eq!(download(&app, &key, &media_id).await.2, photo);
}

#[tokio::test]
async fn a_file_not_downloaded_yet_needs_its_device_connected() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("shop").await;
    let voice = files::opus();
    let message = receive(&app, &key, &device, "audio", &voice, json!({"voice": true})).await;
    assert_eq!(message["content"]["audio"]["voice"], true);
    let media_id = message["content"]["audio"]["media_id"].as_str().unwrap().to_owned();

    app.post(&format!("/v1/sandbox/devices/{device}/disconnect"), &key, json!({})).await;
    app.wait_device(&key, &device, "disconnected").await;
    let refused = app.get(&format!("/v1/media/{media_id}"), &key).await;
    let error = assert_error(&refused, StatusCode::CONFLICT, "device_not_connected");
    assert!(error["error"]["message"].as_str().unwrap().contains("connect"), "{error}");

    let (status, body) = app.post(&format!("/v1/devices/{device}/connect"), &key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.wait_device(&key, &device, "connected").await;
    let (status, headers, bytes) = download(&app, &key, &media_id).await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (StatusCode::OK, "audio/ogg; codecs=opus"));
    assert_eq!(bytes, voice);
}

#[tokio::test]
async fn received_files_survive_a_restart_can_be_forwarded_and_deleted_before_download() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("shop").await;
    let pdf = files::pdf();
    let doc = receive(&app, &key, &device, "document", &pdf, json!({"filename": "invoice 7.pdf"})).await;
    let doc_id = doc["content"]["document"]["media_id"].as_str().unwrap().to_owned();
    let photo = files::jpeg();
    let pic = receive(&app, &key, &device, "image", &photo, json!({})).await;
    let pic_id = pic["content"]["image"]["media_id"].as_str().unwrap().to_owned();
    let junk = receive(&app, &key, &device, "image", &files::png(), json!({})).await;
    let junk_id = junk["content"]["image"]["media_id"].as_str().unwrap().to_owned();

    let app = app.restart().await;
    app.wait_device(&key, &device, "connected").await;
    let (status, headers, bytes) = download(&app, &key, &doc_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, pdf);
    assert!(headers["content-disposition"].to_str().unwrap().contains("invoice 7.pdf"), "{headers:?}");

    // Forwarded by its id without being read first: Kirim downloads it to send it.
    let (status, sent) =
        app.post("/v1/messages", &key, json!({"to": "+60123000002", "type": "image", "image": {"media_id": pic_id}})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let sent_id = sent["id"].as_str().unwrap().to_owned();
    app.wait_message(&key, &sent_id, "sent").await;
    assert_eq!(download(&app, &key, &pic_id).await.2, photo);

    // Deleting a file nobody downloaded forgets it.
    let (status, body) = app.call(Method::DELETE, &format!("/v1/media/{junk_id}"), Some(&key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_error(&app.get(&format!("/v1/media/{junk_id}"), &key).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.call(Method::DELETE, &format!("/v1/media/{junk_id}"), Some(&key), None).await, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_sandbox_file_is_given_as_a_link_or_its_bytes_not_both() {
    let app = TestApp::spawn().await;
    let (key, device) = app.connected_tenant("shop").await;
    let path = format!("/v1/sandbox/devices/{device}/inbound");
    let both = json!({"from": "+60123000001", "type": "image", "image": {"link": "https://example.com/a.jpg", "base64": STANDARD.encode(files::jpeg())}});
    let error = assert_error(&app.post(&path, &key, both).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["error"]["field"], "image.base64");
    let neither = json!({"from": "+60123000001", "type": "image", "image": {"caption": "?"}});
    let error = assert_error(&app.post(&path, &key, neither).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(error["error"]["field"], "image.link");
    // A file known only by its link has nothing the network can give back: no media_id.
    let linked = json!({"from": "+60123000001", "type": "image", "image": {"link": "https://example.com/a.jpg"}});
    let (status, sent) = app.post(&path, &key, linked).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let list = app.wait_for(&key, "/v1/messages?direction=inbound", |b| !b["data"].as_array().unwrap().is_empty()).await;
    assert!(list["data"][0]["content"]["image"].get("media_id").is_none(), "{list}");
}
