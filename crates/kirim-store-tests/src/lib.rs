//! The conformance suite every Kirim store backend runs unchanged.
//!
//! A backend implements [`Harness`] (how to get a fresh store, and how to close and reopen
//! one) and invokes [`conformance!`] in an integration test:
//!
//! ```ignore
//! kirim_store_tests::conformance!(MyHarness::new());
//! ```
//!
//! which expands into one `#[test]` per behaviour, each on its own multi-threaded runtime
//! with its own harness, so `cargo test` reports them separately.

use std::future::Future;
use std::sync::Arc;

use kirim_core::store::Store;

pub mod fixtures;

mod agents;
mod auto_replies;
mod blacklist;
mod contacts;
mod devices;
mod durability;
mod jobs;
mod listing;
mod media;
mod outbound;
mod queue;
mod reminders;
mod reports;
mod schedules;
mod sending;
mod sessions;
mod tenants;
mod usage;
mod webhooks;

/// Every behaviour, as `pub async fn name(h: Arc<dyn Harness>)`.
pub mod cases {
    pub use crate::agents::*;
    pub use crate::auto_replies::*;
    pub use crate::blacklist::*;
    pub use crate::contacts::*;
    pub use crate::devices::*;
    pub use crate::durability::*;
    pub use crate::jobs::*;
    pub use crate::listing::*;
    pub use crate::media::*;
    pub use crate::outbound::*;
    pub use crate::queue::*;
    pub use crate::reminders::*;
    pub use crate::reports::*;
    pub use crate::schedules::*;
    pub use crate::sending::*;
    pub use crate::sessions::*;
    pub use crate::tenants::*;
    pub use crate::usage::*;
    pub use crate::webhooks::*;
}

/// How the suite gets stores from a backend.
#[async_trait::async_trait]
pub trait Harness: Send + Sync + 'static {
    /// A new, empty store (migrated, ready to use).
    async fn fresh(&self) -> Arc<dyn Store>;
    /// Closes `store` (every acknowledged write must survive) and opens the same database again.
    async fn reopen(&self, store: Arc<dyn Store>) -> Arc<dyn Store>;
}

/// Runs one case on a fresh two-thread runtime (so concurrency cases are really concurrent).
pub fn run<H, F, Fut>(harness: H, case: F)
where
    H: Harness,
    F: FnOnce(Arc<dyn Harness>) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    runtime.block_on(case(Arc::new(harness)));
}

/// Expands into one `#[test]` per behaviour; `$harness` is evaluated anew for each test.
#[macro_export]
macro_rules! conformance {
    ($harness:expr) => {
        $crate::conformance!(@cases $harness;
            tenants_create_get_list,
            a_tenant_and_its_first_key_commit_together,
            api_keys_find_revoke_and_scope,
            api_keys_touch_moves_forward,
            settings_init_and_put,
            devices_create_get_list_and_isolation,
            device_update_patches_only_given_fields,
            device_delete_hides_it_and_cancels_its_queue,
            link_state_updates_and_status_events,
            outbound_insert_writes_message_and_event,
            outbound_idempotency_returns_existing,
            outbound_refuses_a_foreign_or_deleted_device,
            what_a_write_returns_is_what_a_read_returns,
            claim_order_priority_then_age,
            claim_respects_not_before,
            concurrent_claimers_never_double_claim,
            complete_send_transitions_and_events,
            complete_send_ignores_messages_not_sending,
            receipts_only_move_forward,
            receipts_wait_for_the_send_and_recover_a_crashed_attempt,
            a_retry_after_the_device_is_deleted_cancels,
            cancel_pending_too_late_and_not_found,
            release_in_flight_requeues,
            inbound_is_stored_once,
            list_messages_filters,
            list_messages_pages_with_cursor,
            events_order_cursor_filters_and_isolation,
            prune_events_deletes_old_ones,
            queue_depth_counts_pending_and_sending,
            persists_across_reopen,
            group_commit_under_concurrency,
            a_failing_write_fails_alone,
            webhooks_crud_scope_and_rotation,
            fan_out_matches_types_devices_and_creation,
            claims_lease_attempts_and_manual_retry,
            disabling_fails_pending_and_is_an_event,
            deliveries_survive_reopen_and_prune,
            sessions_put_get_scan_and_delete_by_prefix,
            sessions_are_per_device_and_cleared_whole,
            sessions_survive_reopen,
            scheduled_messages_wait_outside_the_queue_until_promoted,
            unsent_messages_can_be_changed_cancelled_and_deleted,
            deleting_a_device_cancels_its_schedules,
            contacts_batch_write_reports_each_item,
            contacts_get_update_delete_by_id_or_number,
            contacts_search_filter_page_and_count,
            contacts_survive_reopen,
            contact_groups_crud_names_and_isolation,
            group_members_add_remove_and_fan_out,
            blacklist_is_idempotent_and_announced,
            blacklist_settings_default_put_and_isolation,
            reports_filter_page_count_and_isolation,
            report_days_split_at_each_range_boundary,
            agents_crud_uniqueness_and_isolation,
            conversations_follow_messages_and_assignments,
            reminders_create_get_list_and_isolation,
            occurrences_are_made_once_and_move_the_cursor,
            reminder_changes_and_deletes_cancel_what_is_scheduled,
            auto_replies_crud_scope_and_order,
            jobs_are_numbered_dispatched_and_scoped,
            job_changes_are_guarded_idempotent_and_delays_end,
            templates_crud_unique_names_and_scope,
            auto_reply_log_counts_per_chat_and_knows_its_replies,
            send_options_are_stored_and_a_secret_is_erased_once_sent,
            cancel_by_ids_answers_each_in_order,
            cancel_pending_takes_the_scope_and_the_limit,
            media_records_round_trip_and_are_isolated,
            media_lists_by_id_and_survives_reopen,
            token_budgets_are_exact_under_concurrency_and_across_reopen,
            a_repeated_key_at_the_limit_answers_with_the_original,
            cancelled_and_failed_messages_are_refunded_to_their_day,
            device_quota_and_expiry_refuse_alone,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run($harness, $crate::cases::$case);
            }
        )*
    };
}
