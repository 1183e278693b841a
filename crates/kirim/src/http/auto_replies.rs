//! `/v1/auto-replies`: keyword rules that answer inbound messages, and fallback (closing) messages.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::AutoReplyId;
use kirim_core::auto_reply::{AutoReply, MatchKind};
use kirim_core::id::DeviceId;
use kirim_core::message::MessageContent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::message_body::MessageBody;
use crate::app::AppState;
use crate::services::auto_replies::{self as service, RuleInput};

/// A rule. On create, `reply` is required, and `keyword` unless `match` is `fallback`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// Answer only this device's inbound messages; omit for every device of the account
    /// (a device token always means its own device).
    pub device_id: Option<String>,
    /// The word, phrase or regular expression (compared ignoring case).
    #[schema(example = "price")]
    pub keyword: Option<String>,
    /// exact (default: the whole message is the keyword), contains, regex, or fallback (no
    /// keyword: answers what no keyword rule matched — a closing or away message).
    #[serde(rename = "match")]
    #[schema(example = "exact")]
    pub match_kind: Option<String>,
    pub reply: Option<MessageBody>,
    /// Also answer messages written in groups (default false).
    pub groups: Option<bool>,
    /// Default true.
    pub enabled: Option<bool>,
    /// After answering a chat, stay quiet for that chat this many seconds (default 0; 86,400 for fallback).
    pub cooldown_secs: Option<u32>,
}

impl RuleBody {
    fn input(self) -> ApiResult<RuleInput> {
        let device_id = match self.device_id {
            Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
            None => None,
        };
        Ok(RuleInput {
            device_id,
            keyword: self.keyword,
            match_kind: self.match_kind,
            reply: self.reply.map(|r| r.content("reply")).transpose()?,
            groups: self.groups,
            enabled: self.enabled,
            cooldown_secs: self.cooldown_secs,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    pub id: AutoReplyId,
    /// `null` for a tenant-wide rule.
    pub device_id: Option<DeviceId>,
    pub keyword: Option<String>,
    #[serde(rename = "match")]
    pub match_kind: MatchKind,
    #[serde(rename = "type")]
    pub kind: String,
    pub reply: MessageContent,
    pub groups: bool,
    pub enabled: bool,
    pub cooldown_secs: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AutoReply> for RuleView {
    fn from(r: AutoReply) -> Self {
        Self {
            id: r.id,
            device_id: r.device.map(|(_, id)| id),
            keyword: r.spec.keyword,
            match_kind: r.spec.match_kind,
            kind: r.spec.reply.kind().to_owned(),
            reply: r.spec.reply,
            groups: r.spec.groups,
            enabled: r.spec.enabled,
            cooldown_secs: r.spec.cooldown_secs,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn rule_id(raw: &str) -> ApiResult<AutoReplyId> {
    raw.parse().map_err(|_| ApiError::not_found("auto-reply rule"))
}

/// Create a rule.
#[utoipa::path(post, path = "/v1/auto-replies", tag = "auto-replies", request_body = RuleBody,
    responses((status = 201, body = RuleView), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(State(state): State<AppState>, auth: TenantAuth, body: ApiJson<RuleBody>) -> ApiResult<(StatusCode, Json<RuleView>)> {
    let rule = service::create(&state, &(&auth).into(), body.value.input()?).await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The rules that apply to this device: its own and the tenant-wide ones.
    pub device_id: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// Rules, oldest first.
#[utoipa::path(get, path = "/v1/auto-replies", tag = "auto-replies", params(ListQuery),
    responses((status = 200, body = List<RuleView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<List<RuleView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let device = match q.device_id.as_deref() {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
        None => None,
    };
    let after = match q.after.as_deref() {
        Some(raw) => Some(raw.parse::<AutoReplyId>().map_err(|e| ApiError::field("after", format!("`after`: {e}")))?),
        None => None,
    };
    let rows = service::list(&state, &(&auth).into(), device.as_ref(), after.as_ref(), limit).await?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|r| r.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(RuleView::from).collect(), next }))
}

#[utoipa::path(get, path = "/v1/auto-replies/{id}", tag = "auto-replies", params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<RuleView>> {
    Ok(Json(service::get(&state, &(&auth).into(), &rule_id(&id)?).await?.into()))
}

/// Change a rule; fields left out stay as they are.
#[utoipa::path(patch, path = "/v1/auto-replies/{id}", tag = "auto-replies", params(("id" = String, Path)), request_body = RuleBody,
    responses((status = 200, body = RuleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<RuleBody>,
) -> ApiResult<Json<RuleView>> {
    Ok(Json(service::update(&state, &(&auth).into(), &rule_id(&id)?, body.value.input()?).await?.into()))
}

#[utoipa::path(delete, path = "/v1/auto-replies/{id}", tag = "auto-replies", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    service::delete(&state, &(&auth).into(), &rule_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
