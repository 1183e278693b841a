//! The stanzas the fake server sends, shaped after what whatsapp-rust 0.7.0 parses
//! (`pair.rs`, `client/node_io.rs`).

use whatsapp_rust::NodeBuilder;
use whatsapp_rust::wacore::xml::DisplayableNode;
use whatsapp_rust::wacore_binary::{Node, SERVER_JID};

/// `<iq from="s.whatsapp.net" type="set" xmlns="md"><pair-device><ref>…</ref>…</pair-device></iq>`:
/// the server's invitation to show QR codes, one per ref, rotated by the client (first for 60 s,
/// then 20 s each).
pub fn pair_device(id: &str, refs: &[String]) -> Node {
    let refs = refs.iter().map(|r| NodeBuilder::new("ref").bytes(r.as_bytes().to_vec()).build());
    NodeBuilder::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "set")
        .attr("id", id)
        .attr("xmlns", "md")
        .children([NodeBuilder::new("pair-device").children(refs).build()])
        .build()
}

/// The empty `type="result"` answer to a client iq: keepalive pings, `passive`, prekey uploads and
/// every query the fake has no richer answer for.
pub fn iq_result(id: &str) -> Node {
    NodeBuilder::new("iq").attr("from", SERVER_JID).attr("type", "result").attr("id", id).attr("t", now_secs().to_string()).build()
}

/// `<stream:error><conflict type="replaced"/></stream:error>`: another client took over this
/// session. whatsapp-rust emits `Event::StreamReplaced` and stops reconnecting.
pub fn stream_replaced() -> Node {
    NodeBuilder::new("stream:error").children([NodeBuilder::new("conflict").attr("type", "replaced").build()]).build()
}

/// `<stream:error code="401"><conflict type="device_removed"/></stream:error>`: the device was
/// unlinked from the phone. whatsapp-rust emits `Event::LoggedOut { on_connect: false, .. }` and
/// stops reconnecting.
pub fn device_removed() -> Node {
    NodeBuilder::new("stream:error")
        .attr("code", "401")
        .children([NodeBuilder::new("conflict").attr("type", "device_removed").build()])
        .build()
}

/// `<stream:error code="…"/>`, e.g. 515 (restart after pairing: reconnect at once), 503
/// (reconnect with backoff) or 516/401 (logged out).
pub fn stream_error(code: u16) -> Node {
    NodeBuilder::new("stream:error").attr("code", code.to_string()).build()
}

/// `<failure reason="…"/>`, the answer to a login the server refuses; 401 means the device was
/// logged out while offline (`Event::LoggedOut { on_connect: true, .. }`).
pub fn connect_failure(reason: u16) -> Node {
    NodeBuilder::new("failure").attr("reason", reason.to_string()).attr("location", "fake").build()
}

/// `<success/>`, the answer to an accepted login, naming the account's LID.
pub fn success(lid: &str) -> Node {
    NodeBuilder::new("success")
        .attr("t", now_secs().to_string())
        .attr("props", "1")
        .attr("abprops", "1")
        .attr("location", "fake")
        .attr("creation", now_secs().to_string())
        .attr("lid", lid)
        .build()
}

/// The answer to an app state sync query (`xmlns="w:sync:app:state"`): every requested
/// collection, at version 0 with no patches — an account with nothing to sync.
pub fn empty_app_state(id: &str, request: &Node) -> Node {
    let requested = request.get_optional_child("sync").and_then(Node::children).unwrap_or_default();
    let collections = requested
        .iter()
        .filter(|c| c.tag == "collection")
        .filter_map(|c| attr(c, "name"))
        .map(|name| NodeBuilder::new("collection").attr("name", name).attr("version", "0").build());
    NodeBuilder::new("iq")
        .attr("from", SERVER_JID)
        .attr("type", "result")
        .attr("id", id)
        .children([NodeBuilder::new("sync").children(collections).build()])
        .build()
}

/// `<ib><offline count="0"/></ib>`: the end of (an empty) offline delivery, which the client waits
/// for after it leaves passive mode.
pub fn offline_done() -> Node {
    NodeBuilder::new("ib").children([NodeBuilder::new("offline").attr("count", "0").build()]).build()
}

/// The node as XML-ish text, for logs and assertion messages.
pub fn describe(node: &Node) -> String {
    DisplayableNode(node).to_string()
}

/// A string attribute of `node`, if present.
pub fn attr(node: &Node, key: &str) -> Option<String> {
    node.attrs.get(key).map(|v| v.as_str().into_owned())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
