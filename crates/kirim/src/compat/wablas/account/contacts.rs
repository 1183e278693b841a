//! The address book: contacts (v2 bulk add and update, delete by number, numbered pages) and
//! contact groups (create-or-update by name with numbers, remove numbers). The address book is
//! the account's, as on the native API; writes need the secret key, reading does not.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kirim_core::contact::Contact;
use serde_json::{Map, Value, json};

use super::{bad_field, item_text, items, refused, required, stamp};
use crate::app::AppState;
use crate::compat::wablas::{Call, fail, ok};
use crate::services::contact_groups::{self, MemberOutcome};
use crate::services::contacts::{self, ContactChanges, ContactFields, DeleteOutcome, FieldError, ItemOutcome};

/// Wablas's names for the native contact fields.
const NAMES: [(&str, &str); 2] = [("birthday", "birth_day"), ("phones", "phone")];

/// Most contacts on one page of `GET /api/v2/contact`.
const MAX_LIMIT: u32 = 1000;
const DEFAULT_LIMIT: u32 = 10;

fn view(c: &Contact) -> Value {
    json!({
        "id": c.id,
        "phone": c.phone.digits(),
        "email": c.email,
        "name": c.name,
        "nickname": null,
        "status": "active",
        "address": c.address,
        "gender": null,
        "birth_day": c.birthday.map(|b| b.format("%d-%m-%Y").to_string()),
        "photo": null,
        "date": {"created_at": stamp(c.created_at), "updated_at": stamp(c.updated_at)},
    })
}

fn field_message(e: &FieldError) -> String {
    let field = NAMES.iter().find(|(native, _)| *native == e.field).map_or(e.field.as_str(), |(_, w)| w);
    e.message.replace(&format!("`{}`", e.field), &format!("`{field}`"))
}

/// `phone=a,b,c`: 1 to 1,000 numbers.
fn numbers(raw: &str) -> Result<Vec<String>, Response> {
    contacts::split_phones("phone", Some(raw)).map_err(|e| refused(e, &[]))
}

fn fields_of(item: &Map<String, Value>) -> ContactFields {
    ContactFields {
        phone: item_text(item, "phone").unwrap_or_default(),
        name: item_text(item, "name").unwrap_or_default(),
        email: item_text(item, "email"),
        address: item_text(item, "address"),
        birthday: item_text(item, "birth_day").or_else(|| item_text(item, "birthday")),
        custom: Default::default(),
    }
}

/// `POST /api/v2/contact {data: [{name, phone, email?, address?, birth_day?}]}`: each new
/// number becomes a contact; one already in the address book is left as it is. One answer per item.
pub async fn add(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let given = or_answer!(items(&call));
    let raw: Vec<String> = given.iter().map(|i| item_text(i, "phone").unwrap_or_default()).collect();
    let batch = given.iter().map(|i| Ok(fields_of(i))).collect();
    let outcomes = match contacts::write_batch(&state, &caller.actor(), batch, false).await {
        Ok(o) => o,
        Err(e) => return refused(e, &NAMES),
    };
    let messages: Vec<Value> = raw
        .iter()
        .zip(outcomes)
        .map(|(raw, outcome)| match outcome {
            ItemOutcome::Created(c) | ItemOutcome::Updated(c) => {
                let phone = c.phone.digits();
                json!({"phone": phone, "message": format!("successfully add {phone} to contact"), "status": true, "id": c.id})
            }
            ItemOutcome::Existing(c) => {
                let phone = c.phone.digits();
                json!({"phone": phone, "message": format!("{phone} already add on contact"), "status": false, "id": c.id})
            }
            ItemOutcome::Invalid(e) => json!({"phone": raw, "message": field_message(&e), "status": false}),
        })
        .collect();
    ok("Successfully Add contact", json!({"messages": messages}))
}

/// `POST /api/v2/contact/update {data: [{phone, name?, email?, address?, birth_day?}]}`: the
/// contact with that number takes the fields given. One answer per item.
pub async fn update(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let given = or_answer!(items(&call));
    let actor = caller.actor();
    let mut messages = Vec::with_capacity(given.len());
    for item in &given {
        let Some(raw) = item_text(item, "phone") else {
            messages.push(json!({"phone": null, "message": "`phone` is required: the number of the contact to update", "status": false}));
            continue;
        };
        let changes = ContactChanges {
            phone: None,
            name: item_text(item, "name"),
            email: item_text(item, "email").map(Some),
            address: item_text(item, "address").map(Some),
            birthday: item_text(item, "birth_day").or_else(|| item_text(item, "birthday")).map(Some),
            custom: None,
        };
        messages.push(match contacts::update(&state, &actor, &raw, changes).await {
            Ok(c) => {
                let phone = c.phone.digits();
                json!({"phone": phone, "message": format!("successfully update contact {phone}"), "status": true, "id": c.id})
            }
            Err(e) if e.status == StatusCode::NOT_FOUND => {
                json!({"phone": raw, "message": format!("contact {raw} not found"), "status": false})
            }
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY || e.status == StatusCode::CONFLICT => {
                json!({"phone": raw, "message": field_message(&FieldError::from(e)), "status": false})
            }
            Err(e) => return refused(e, &NAMES),
        });
    }
    ok("Successfully update contact", json!({"messages": messages}))
}

/// `DELETE /api/contact?phone=a,b`: deletes the contacts with these numbers.
pub async fn remove(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let raw = or_answer!(required(&call, "phone", "the numbers to delete, separated by commas"));
    let phones = or_answer!(numbers(&raw));
    let outcomes = match contacts::delete_many(&state, &caller.actor(), phones).await {
        Ok(o) => o,
        Err(e) => return refused(e, &NAMES),
    };
    let (mut deleted, mut missing) = (Vec::new(), Vec::new());
    for (raw, outcome) in &outcomes {
        match outcome {
            DeleteOutcome::Deleted(c) => deleted.push(c.phone.digits().to_owned()),
            DeleteOutcome::NotFound(_) | DeleteOutcome::Invalid(_) => missing.push(raw.clone()),
        }
    }
    if deleted.is_empty() {
        return fail(StatusCode::NOT_FOUND, format!("no contact has these numbers: {}", missing.join(", ")));
    }
    let mut message = format!("Successfully deleted contacts: {}", deleted.join(", "));
    if !missing.is_empty() {
        message.push_str(&format!("; not found: {}", missing.join(", ")));
    }
    ok(message, json!({"deleted": deleted, "not_found": missing}))
}

fn whole(call: &Call, field: &str, default: u32, max: u32) -> Result<u32, Response> {
    match call.text(field) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad_field(field, format!("must be a whole number from 1 to {max} (got `{raw}`)"))),
    }
}

/// `GET /api/v2/contact?phone=&page=&limit=`: a numbered page of the address book, or the
/// contact with `phone`. Read-only: the device token is enough.
pub async fn list(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let page = or_answer!(whole(&call, "page", 1, u32::MAX / MAX_LIMIT));
    let limit = or_answer!(whole(&call, "limit", DEFAULT_LIMIT, MAX_LIMIT));
    let actor = caller.actor();
    let (rows, total) = match call.text("phone") {
        Some(phone) => {
            if let Err(e) = contacts::parse_phone(&state, "phone", &phone) {
                return refused(e, &[]);
            }
            match contacts::get(&state, &actor, &phone).await {
                Ok(c) => (vec![c], 1),
                Err(e) if e.status == StatusCode::NOT_FOUND => (Vec::new(), 0),
                Err(e) => return refused(e, &[]),
            }
        }
        None => match contacts::page(&state, &actor, (page - 1) * limit, limit).await {
            Ok(found) => found,
            Err(e) => return refused(e, &[]),
        },
    };
    Json(json!({
        "status": true,
        "totalData": total,
        "perPage": limit,
        "page": page,
        "totalPage": total.div_ceil(u64::from(limit)),
        "message": rows.iter().map(view).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// `POST /api/group/add {name, phone: "a,b"}`: the contact group with this name (made when
/// there is none) gets these numbers; numbers that are not contacts yet become contacts.
pub async fn group_add(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let name = or_answer!(required(&call, "name", "the contact group's name"));
    let raw = or_answer!(required(&call, "phone", "the numbers to add, separated by commas"));
    let actor = caller.actor();
    let created = match contact_groups::resolve_group(&state, &actor, &name).await {
        Ok(_) => false,
        Err(e) if e.status == StatusCode::NOT_FOUND => match contact_groups::create(&state, &actor, &name).await {
            Ok(_) => true,
            // Made meanwhile by another call: add to it.
            Err(e) if e.status == StatusCode::CONFLICT => false,
            Err(e) => return refused(e, &[]),
        },
        Err(e) => return refused(e, &[]),
    };
    let phones = or_answer!(numbers(&raw));
    let (group, outcomes) = match contact_groups::add_members(&state, &actor, &name, phones).await {
        Ok(done) => done,
        Err(e) => return refused(e, &NAMES),
    };
    let g = &group.name;
    let data: Vec<Value> = outcomes
        .into_iter()
        .map(|(raw, outcome)| match outcome {
            MemberOutcome::Added { phone, .. } => {
                json!({"info": format!("{} succesfully add to group {g}", phone.digits()), "status": true})
            }
            MemberOutcome::AlreadyMember { phone, .. } => {
                json!({"info": format!("{} already add to group {g}", phone.digits()), "status": true})
            }
            MemberOutcome::Invalid(e) => json!({"phone": raw, "message": field_message(&e), "status": false}),
            MemberOutcome::Removed { phone } | MemberOutcome::NotMember { phone } => json!({"phone": phone.digits(), "status": false}),
        })
        .collect();
    let verb = if created { "Create" } else { "Update" };
    ok(format!("{verb} Group Contact {g} Succesfully"), Value::Array(data))
}

/// `POST /api/group/delete-phone {name, phone: "a,b"}`: takes the numbers out of the group
/// (their contacts stay).
pub async fn group_remove(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let name = or_answer!(required(&call, "name", "the contact group's name"));
    let raw = or_answer!(required(&call, "phone", "the numbers to remove, separated by commas"));
    let phones = or_answer!(numbers(&raw));
    let (group, outcomes) = match contact_groups::remove_members(&state, &caller.actor(), &name, phones).await {
        Ok(done) => done,
        Err(e) => return refused(e, &NAMES),
    };
    let g = &group.name;
    let data: Vec<Value> = outcomes
        .into_iter()
        .map(|(raw, outcome)| match outcome {
            MemberOutcome::Removed { phone } => {
                json!({"info": format!("{} succesfully removed from group {g}", phone.digits()), "status": true})
            }
            MemberOutcome::NotMember { phone } => json!({"info": format!("{} not found on group {g}", phone.digits()), "status": false}),
            MemberOutcome::Invalid(e) => json!({"phone": raw, "message": field_message(&e), "status": false}),
            MemberOutcome::Added { phone, .. } | MemberOutcome::AlreadyMember { phone, .. } => {
                json!({"phone": phone.digits(), "status": false})
            }
        })
        .collect();
    ok(format!("remove phones number from group {g}"), Value::Array(data))
}
