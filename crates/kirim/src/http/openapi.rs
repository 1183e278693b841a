//! The OpenAPI 3.1 document, generated from the handlers and types themselves.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    List, agents, auto_replies, blacklist, contact_groups, contacts, conversations, devices, error, events, groups, jobs, media, messages,
    numbers, presence, profile, reminders, reports, sandbox, sandbox_signals, send, sending, templates, tenants, usage, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Kirim", description = "A self-hosted, multi-tenant WhatsApp API gateway. Authenticate with `Authorization: Bearer <token>`: the admin token for /v1/tenants, a tenant API key or a device token for everything else."),
    paths(
        tenants::create, tenants::list, tenants::get, tenants::create_key, tenants::list_keys, tenants::revoke_key,
        devices::create, devices::list, devices::get, devices::update, devices::delete, devices::connect,
        devices::pair_code, devices::qr_code, devices::logout, devices::rotate_token, presence::send, profile::set_name, profile::list, profile::block, profile::unblock,
        send::send, messages::get, messages::update, messages::delete, messages::list, messages::cancel,
        sending::batch, sending::resend, sending::resend_many, sending::cancel,
        events::list, events::stream,
        webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete, webhooks::rotate_secret,
        webhooks::test, webhooks::deliveries, webhooks::delivery, webhooks::retry,
        contacts::create, contacts::batch, contacts::import, contacts::list, contacts::get, contacts::update, contacts::delete,
        contacts::delete_many,
        contact_groups::create, contact_groups::list, contact_groups::get, contact_groups::update, contact_groups::delete,
        contact_groups::add_members, contact_groups::remove_members, contact_groups::members,
        blacklist::add, blacklist::list, blacklist::remove, blacklist::get_settings, blacklist::put_settings,
        reminders::create, reminders::list, reminders::get, reminders::update, reminders::delete,
        auto_replies::create, auto_replies::list, auto_replies::get, auto_replies::update, auto_replies::delete,
        media::upload, media::list, media::download, media::info, media::delete,
        sandbox::scan, sandbox::inbound, sandbox::disconnect, sandbox::received, sandbox_signals::call, sandbox_signals::presences,
        groups::list, groups::get, groups::create, groups::participants, groups::invite_link, groups::reset_invite_link, groups::leave,
        numbers::check,
        reports::messages, reports::realtime, reports::daily,
        agents::create, agents::list, agents::get, agents::update, agents::delete,
        conversations::assign, conversations::unassign, conversations::list, conversations::get,
        jobs::create, jobs::list, jobs::get,
        templates::create, templates::list, templates::get, templates::update, templates::delete, templates::send,
        usage::get, usage::update_tenant, usage::put_device_limits,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, List<messages::MessageView>, List<webhooks::WebhookView>, List<webhooks::DeliveryView>,
        List<contacts::ContactView>, List<contact_groups::GroupView>, List<blacklist::BlacklistView>,
        List<groups::GroupView>, List<groups::ParticipantResultView>, List<agents::AgentView>,
        List<reminders::ReminderView>, List<auto_replies::RuleView>, List<media::MediaView>, List<jobs::JobView>, List<templates::TemplateView>)),
    modifiers(&Bearer),
    tags(
        (name = "tenants", description = "Tenants and API keys (operator)"),
        (name = "devices", description = "WhatsApp numbers and linking"),
        (name = "messages", description = "Sending and reading messages"),
        (name = "events", description = "The event log, by cursor or as a live stream"),
        (name = "webhooks", description = "Signed event delivery to your endpoints (Standard Webhooks)"),
        (name = "contacts", description = "The address book: contacts and contact groups (broadcast lists)"),
        (name = "blacklist", description = "Numbers never to be messaged, and opt-out keywords"),
        (name = "groups", description = "WhatsApp groups of a device, and checking numbers on WhatsApp"),
        (name = "reminders", description = "Messages repeated daily, weekly, monthly, yearly or every N days"),
        (name = "auto-replies", description = "Keyword rules that answer inbound messages, and closing messages"),
        (name = "media", description = "Files to send: uploads, and files fetched from links"),
        (name = "sandbox", description = "The simulated phone of the sandbox network"),
        (name = "reports", description = "Message reports: filtered pages with totals, today, and counts per day"),
        (name = "agents", description = "Agents, and the conversations assigned to them"),
        (name = "jobs", description = "Field jobs dispatched to workers, moved by their WhatsApp replies"),
        (name = "templates", description = "Message templates with named variables, sent by id"),
        (name = "usage", description = "Daily token budgets: today's use, what is left, and use by day"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}
