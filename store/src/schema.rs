//! Diesel table definitions shared by both backends, kept by hand: only SQL types that diesel's
//! `MultiBackend` knows (no Timestamptz, Jsonb or arrays), so one definition serves PostgreSQL and SQLite.
//! Must match `migrations/postgres` and `migrations/sqlite`; the `migrations_match_schema` test checks it.

diesel::table! {
    datasets (id) {
        id -> BigInt,
        source_key -> Text,
        hdx_id -> Nullable<Text>,
        title -> Text,
        organisation -> Text,
        url -> Text,
        licence_id -> Text,
        licence_title -> Text,
        licence_url -> Nullable<Text>,
        licence_other -> Nullable<Text>,
        credit -> Text,
        methodology -> Nullable<Text>,
        update_frequency_days -> Nullable<Integer>,
        last_modified -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    resources (id) {
        id -> BigInt,
        dataset_id -> BigInt,
        hdx_id -> Nullable<Text>,
        name -> Text,
        url -> Text,
        format -> Text,
        last_modified -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ingest_runs (id) {
        id -> BigInt,
        source -> Text,
        params -> Text,
        trigger -> Text,
        requested_by -> Nullable<Text>,
        dry_run -> Bool,
        status -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        heartbeat_at -> Nullable<Timestamp>,
        fetched -> BigInt,
        inserted -> BigInt,
        updated -> BigInt,
        unchanged -> BigInt,
        rejected -> BigInt,
        error -> Nullable<Text>,
        cancel_requested -> Bool,
        phase -> Text,
        steps_done -> BigInt,
        steps_total -> Nullable<BigInt>,
        rows_so_far -> BigInt,
        progress_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    schedule_claims (source, slot) {
        source -> Text,
        slot -> Timestamp,
        holder -> Text,
        claimed_at -> Timestamp,
    }
}

diesel::table! {
    source_leases (source) {
        source -> Text,
        run_id -> Nullable<BigInt>,
        holder -> Text,
        acquired_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    raw_payloads (sha256) {
        sha256 -> Text,
        byte_size -> BigInt,
        content_type -> Nullable<Text>,
        body -> Binary,
        first_fetched_at -> Timestamp,
    }
}

diesel::table! {
    raw_payload_chunks (sha256, seq) {
        sha256 -> Text,
        seq -> Integer,
        bytes -> Binary,
    }
}

diesel::table! {
    applied_payloads (source, country_iso3, url) {
        source -> Text,
        country_iso3 -> Text,
        url -> Text,
        payload_sha256 -> Text,
        run_id -> BigInt,
        resource_id -> BigInt,
        fetched_rows -> BigInt,
        stored_rows -> BigInt,
        rejected_rows -> BigInt,
        area_count -> BigInt,
        area_max_id -> BigInt,
        area_max_updated_at -> Nullable<Timestamp>,
        applied_at -> Timestamp,
    }
}

diesel::table! {
    rejection_references (run_id, source_run_id, resource_id, payload_sha256) {
        run_id -> BigInt,
        source_run_id -> BigInt,
        resource_id -> BigInt,
        payload_sha256 -> Text,
        rejected -> BigInt,
    }
}

diesel::table! {
    fetches (id) {
        id -> BigInt,
        run_id -> Nullable<BigInt>,
        resource_id -> Nullable<BigInt>,
        url -> Text,
        http_status -> Integer,
        not_modified -> Bool,
        payload_sha256 -> Nullable<Text>,
        etag -> Nullable<Text>,
        last_modified -> Nullable<Text>,
        fetched_at -> Timestamp,
    }
}

diesel::table! {
    rejected_rows (id) {
        id -> BigInt,
        run_id -> BigInt,
        resource_id -> Nullable<BigInt>,
        payload_sha256 -> Nullable<Text>,
        row_number -> BigInt,
        reason -> Text,
        raw -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    countries (iso3) {
        iso3 -> Text,
        iso2 -> Nullable<Text>,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    admin_areas (id) {
        id -> BigInt,
        country_iso3 -> Text,
        pcode -> Text,
        name -> Text,
        level -> Integer,
        parent_pcode -> Nullable<Text>,
        parent_id -> Nullable<BigInt>,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        resource_id -> Nullable<BigInt>,
        run_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    area_aliases (id) {
        id -> BigInt,
        area_id -> BigInt,
        code -> Nullable<Text>,
        name -> Nullable<Text>,
        kind -> Text,
        relation -> Text,
        source -> Text,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    idp_figures (id) {
        id -> BigInt,
        country_iso3 -> Text,
        admin_level -> Integer,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        source_pcode -> Text,
        source_name -> Text,
        operation -> Text,
        round_number -> Integer,
        reporting_date -> Date,
        assessment_type -> Text,
        displacement_reason -> Text,
        origin_pcode -> Text,
        origin_name -> Text,
        individuals -> BigInt,
        males -> Nullable<BigInt>,
        females -> Nullable<BigInt>,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    /// IDP figures summed per area, operation, round, date, assessment type and resource (kept by
    /// the ingest, see `idp_totals.rs`).
    idp_totals (id) {
        id -> BigInt,
        country_iso3 -> Text,
        admin_level -> Integer,
        source_pcode -> Text,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        operation -> Text,
        round_number -> Integer,
        reporting_date -> Date,
        assessment_type -> Text,
        resource_id -> BigInt,
        source_name -> Text,
        individuals -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
        is_latest_round -> Bool,
    }
}

diesel::table! {
    population_figures (id) {
        id -> BigInt,
        country_iso3 -> Text,
        admin_level -> Integer,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        source_pcode -> Text,
        source_name -> Text,
        boundary_edition -> Text,
        sex -> Text,
        age_range -> Text,
        reference_year -> Integer,
        population -> BigInt,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    sites (id) {
        id -> BigInt,
        country_iso3 -> Text,
        site_code -> Text,
        name -> Text,
        site_type -> Nullable<Text>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        area_id -> Nullable<BigInt>,
        area_matched -> Bool,
        source_pcode -> Nullable<Text>,
        households -> Nullable<BigInt>,
        individuals -> Nullable<BigInt>,
        round_number -> Nullable<Integer>,
        reporting_date -> Nullable<Date>,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    appeals (id) {
        id -> BigInt,
        code -> Text,
        fts_id -> Nullable<BigInt>,
        name -> Text,
        appeal_type -> Nullable<Text>,
        year -> Integer,
        start_date -> Nullable<Date>,
        end_date -> Nullable<Date>,
        requirements_usd -> Nullable<BigInt>,
        funding_usd -> Nullable<BigInt>,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    appeal_countries (id) {
        id -> BigInt,
        appeal_id -> BigInt,
        country_iso3 -> Text,
        requirements_usd -> Nullable<BigInt>,
        funding_usd -> Nullable<BigInt>,
    }
}

diesel::table! {
    appeal_clusters (id) {
        id -> BigInt,
        appeal_id -> BigInt,
        cluster -> Text,
        requirements_usd -> Nullable<BigInt>,
        funding_usd -> Nullable<BigInt>,
        resource_id -> Nullable<BigInt>,
        run_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    funding_outside_appeals (id) {
        id -> BigInt,
        country_iso3 -> Text,
        year -> Integer,
        funding_usd -> BigInt,
        resource_id -> BigInt,
        run_id -> BigInt,
        retrieved_at -> Timestamp,
    }
}

diesel::table! {
    run_changes (run_id, country) {
        run_id -> BigInt,
        country -> Text,
        inserted -> BigInt,
        updated -> BigInt,
        unchanged -> BigInt,
        rejected -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        url -> Text,
        run_id -> Nullable<BigInt>,
        event -> Text,
        body -> Text,
        status -> Text,
        attempt -> Integer,
        http_status -> Nullable<Integer>,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(resources -> datasets (dataset_id));
diesel::joinable!(fetches -> ingest_runs (run_id));
diesel::joinable!(rejected_rows -> ingest_runs (run_id));
diesel::joinable!(admin_areas -> countries (country_iso3));
diesel::joinable!(area_aliases -> admin_areas (area_id));
diesel::joinable!(idp_figures -> admin_areas (area_id));
diesel::joinable!(idp_figures -> resources (resource_id));
diesel::joinable!(population_figures -> admin_areas (area_id));
diesel::joinable!(sites -> admin_areas (area_id));
diesel::joinable!(appeal_countries -> appeals (appeal_id));
diesel::joinable!(appeal_clusters -> appeals (appeal_id));

diesel::allow_tables_to_appear_in_same_query!(
    datasets,
    resources,
    ingest_runs,
    schedule_claims,
    source_leases,
    raw_payloads,
    raw_payload_chunks,
    applied_payloads,
    rejection_references,
    fetches,
    rejected_rows,
    countries,
    admin_areas,
    area_aliases,
    idp_figures,
    idp_totals,
    population_figures,
    sites,
    appeals,
    appeal_countries,
    appeal_clusters,
    funding_outside_appeals,
    run_changes,
    webhook_deliveries,
);
