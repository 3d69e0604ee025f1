//! The store's integration tests, in one test binary (one link instead of one per file):
//! the story of a store, one suite of scenarios that every backend must pass, and beside it
//! what only one backend can show (`nodes`: several PostgreSQL nodes on one database).
//!
//! Each scenario is a plain `async fn` taking `&dyn Store` (or the [`harness::Harness`] when it
//! needs to reopen the database), so it knows nothing of the backend. [`story!`] turns the list
//! of scenarios into one `#[tokio::test]` per scenario for a backend, given a function that
//! makes a fresh, migrated store; a new backend joins with one `mod` and one constructor.
//! Both backends run every scenario: SQLite in a temporary directory, PostgreSQL in a fresh
//! database per test.

mod audit;
mod distribution_fanout;
mod distributions;
mod handoff;
mod harness;
mod health;
mod idempotency;
mod ingest;
mod limits;
mod nodes;
mod notices;
mod operational;
mod pg;
mod projects;
mod public_headers;
mod queue;
mod schema;
mod upgrade;

/// One test per scenario on the backend that `$fresh()` makes.
macro_rules! story {
    ($fresh:path) => {
        story!(@store $fresh;
            projects::management_keys_are_stored_hashed_and_replaced_by_id,
            projects::projects_are_created_read_updated_listed_found_by_app_id_and_deleted,
            projects::deleting_a_project_takes_its_webhooks_events_and_send_outs_with_it,
            projects::webhooks_are_created_read_replaced_listed_and_deleted,
            projects::a_reactivated_webhook_loses_its_disabled_reason,
            projects::another_projects_ids_are_not_found,
            projects::rotation_keeps_the_previous_secret_within_the_grace_period_only,
            ingest::an_event_fans_out_only_to_active_webhooks_subscribed_to_its_type_or_to_all,
            ingest::a_batch_is_ingested_whole_or_not_at_all,
            ingest::one_failing_ingest_does_not_fail_others_made_at_the_same_time,
            ingest::ingest_wakes_a_worker_even_one_that_was_not_waiting_yet,
            idempotency::a_replayed_key_answers_the_stored_answer_with_the_same_ids_and_makes_nothing,
            idempotency::a_key_used_again_with_another_body_is_refused_and_makes_nothing,
            idempotency::a_key_past_its_time_is_new_again,
            idempotency::events_own_keys_make_each_event_once_across_batches,
            idempotency::ingests_with_one_key_at_the_same_moment_make_one_event,
            notices::disabling_a_webhook_records_one_notice_addressed_as_the_project_says,
            notices::re_enabling_a_disabled_webhook_is_noticed_and_notices_are_marked_read,
            notices::the_outbox_leases_each_mail_to_one_sender_and_keeps_its_outcome,
            notices::a_failing_target_is_warned_about_once_per_incident,
            notices::retention_keeps_notices_whose_mail_or_operational_event_is_pending,
            operational::notices_make_their_operational_events_once_and_exhaustion_is_coalesced,
            queue::a_claimed_send_out_is_not_claimed_again_while_its_lease_lasts,
            queue::an_expired_lease_makes_the_send_out_claimable_again,
            queue::claims_come_earliest_due_first_and_at_most_the_limit,
            queue::a_claim_is_shared_between_projects_whatever_their_backlogs,
            queue::a_successful_attempt_completes_the_send_out,
            queue::a_failed_attempt_makes_the_send_out_retry_at_the_time_given,
            queue::giving_up_fails_the_send_out_and_disables_its_webhook_when_asked,
            queue::a_claim_shows_when_its_target_is_inactive_or_deleted,
            queue::claim_one_leases_any_send_out_unless_another_worker_holds_it,
            queue::a_batch_may_complete_one_send_out_twice,
            queue::a_stale_completion_does_not_overwrite_the_newer_holders_result,
            queue::released_claims_are_due_again_at_once,
            queue::a_stale_release_does_not_take_the_send_out_from_its_newer_holder,
            queue::requeue_failed_makes_a_targets_failed_send_outs_since_a_time_due_now,
            queue::a_test_send_out_is_stored_leased_to_its_maker,
            queue::queue_stats_count_open_and_due_send_outs_and_the_oldest_due_time,
            handoff::fresh_send_outs_are_handed_to_the_inbox_as_far_as_it_has_room,
            handoff::a_failed_ingest_or_a_closed_inbox_hands_nothing_over,
            audit::the_audit_log_lists_newest_first_with_filters_and_pages,
            distributions::distributions_are_created_read_replaced_listed_and_deleted,
            distributions::pausing_records_why_and_when_and_setting_live_forgets_both,
            distributions::another_projects_distributions_are_not_found,
            distribution_fanout::an_event_fans_out_once_per_channel_of_every_live_matching_distribution,
            distribution_fanout::a_type_in_both_channels_reaches_webhooks_and_distributions,
            distribution_fanout::a_condition_narrows_the_events_that_fan_out,
            distribution_fanout::a_batch_reaches_only_distributions_of_its_types_and_campaigns,
            distribution_fanout::a_distributions_send_outs_are_sent_only_while_it_is_live,
            distribution_fanout::giving_up_on_a_channel_pauses_its_distribution_with_the_reason,
            limits::an_ingest_that_would_make_too_many_send_outs_stores_nothing,
            limits::a_channel_whose_payload_is_too_long_fails_at_once_and_the_rest_is_sent,
            limits::a_project_gets_no_more_webhooks_or_distributions_than_its_quota,
            audit::get_send_out_returns_its_attempts_in_order,
            audit::prune_deletes_finished_send_outs_older_than_the_cutoff_only,
            audit::the_dashboard_counts_send_outs_by_status_and_time_and_knows_each_webhooks_last_status,
            public_headers::a_webhooks_public_headers_are_stored_read_and_replaced,
            public_headers::the_audit_log_finds_what_each_target_marks_now_and_nothing_once_it_is_gone,
            health::health_counts_a_webhooks_attempts_by_window_with_its_failures_in_a_row,
            health::each_channel_of_a_distribution_has_its_own_health,
        );
        story!(@harness $fresh;
            ingest::a_store_reopened_from_the_same_place_keeps_pending_send_outs,
        );
    };
    (@store $fresh:path; $($module:ident :: $scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                let harness = $fresh().await;
                crate::$module::$scenario(harness.store()).await;
            }
        )*
    };
    (@harness $fresh:path; $($module:ident :: $scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                let harness = $fresh().await;
                crate::$module::$scenario(&harness).await;
            }
        )*
    };
}

mod sqlite {
    story!(crate::harness::fresh_sqlite);
}

/// Needs a PostgreSQL server (`SENDOUT_TEST_DATABASE_URL`, see `story/pg.rs`); fails, never
/// skips, without one.
mod postgres {
    story!(crate::harness::fresh_postgres);
}
