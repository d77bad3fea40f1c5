//! The cases, by theme. Each is `pub async fn name<S: Store + 'static>(f: Fixture<S>)` in
//! one of the modules below, and is declared once more, in `__conformance_cases!`: the one
//! list, from which both the `conformance::name` re-export and the suite's test of that
//! name are expanded. The theme modules are private, so a case left off the list is dead code
//! (a warning, an error under `-D warnings`), and a listed name that is no case does not
//! compile: the functions and the suite cannot disagree.

mod create;
mod expiry;
mod indexes;
mod input;
mod update;

/// The list of cases, by module: hands it to `$crate::$then!` after `$args` and a `;`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($then:ident!($($args:tt)*)) => {
        $crate::$then!($($args)*;
            create::{
                create_then_get,
                create_round_trips_every_field,
                ipv6_flowinfo_and_scope_id_round_trip,
                get_missing_is_none,
                create_duplicate_id_fails,
                create_duplicate_connection_fails,
                concurrent_creates_one_id_one_wins,
                concurrent_creates_one_connection_one_wins,
                connection_reusable_after_delete,
                connection_reusable_after_expiry,
                id_reusable_after_expiry_without_resurrection,
                get_many_order_and_misses,
                get_many_empty,
            },
            input::{
                create_rejects_bad_input_table,
                user_id_validation,
                user_ids_with_special_characters_do_not_collide,
                hostile_writes_refused_and_nothing_written,
                hostile_text_refused,
                hostile_values_accepted_and_round_trip,
                hostile_read_arguments,
                metadata_at_limits_accepted,
            },
            update::{
                update_bumps_version,
                update_stale_version_conflicts,
                update_missing_is_not_found,
                update_expired_is_not_resurrected,
                update_rejects_past_expiry_and_bad_metadata,
                update_moves_user_index,
                update_moves_connection_index,
                update_clears_connection,
                update_onto_taken_connection_fails,
                same_version_writers_exactly_one_wins,
                update_with_concurrent_increments_exact,
                update_with_closure_error_writes_nothing,
                compute_keep_write_delete,
                touch_extends_expiry,
                touch_shortens_expiry,
                touch_rejects_past_and_missing,
                touch_then_stale_update_conflicts,
            },
            indexes::{
                delete_removes_everywhere,
                delete_expired_session_reports_false,
                get_by_user_id_all_ordered,
                get_by_user_id_skips_expired,
                get_by_connection_id_finds_and_expires,
                sessions_without_connection,
                index_completeness_after_mixed_writes,
                delete_by_user_id_all,
                delete_by_user_id_except,
                delete_by_user_id_counts_live_only,
                list_pages_stable_with_exact_total,
                list_filters_user_and_state,
                list_offset_past_end_and_zero_limit,
                list_skips_expired,
            },
            expiry::{
                count_live_only,
                delete_expired_reclaims,
                expired_invisible_everywhere,
                no_write_resurrects_expired,
                nothing_survives_the_expiry_millisecond,
                concurrent_mixed_writes_keep_indexes_consistent,
            },
        );
    };
}

/// Re-exports every listed case from here (and so from `conformance`).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_reexport {
    (; $($module:ident::{$($case:ident),* $(,)?}),* $(,)?) => {
        $(pub use self::$module::{$($case),*};)*
    };
}

crate::__conformance_cases!(__conformance_reexport!());
