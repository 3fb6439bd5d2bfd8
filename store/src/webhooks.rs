//! The webhook outbox (`webhook_deliveries`): one row per receiver URL and event, written when the
//! run that caused it ends, and sent by a background worker (ingest/src/webhooks.rs) in order per
//! URL, with bounded retries. The row is the delivery log too (GraphQL `webhookDeliveries`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::webhook_deliveries;
use crate::{AnyConnection, StoreError, now_utc};

/// Delivery states, as stored in `webhook_deliveries.status`.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
}

/// One delivery of one event to one URL, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: i64,
    pub url: String,
    pub run_id: Option<i64>,
    pub event: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
    pub status: String,
    /// Attempts made so far.
    pub attempt: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// A delivery to add to the outbox.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub url: String,
    pub run_id: Option<i64>,
    pub event: String,
    pub body: String,
}

/// Adds deliveries to the outbox, due at once, in the order given.
pub fn enqueue(conn: &mut AnyConnection, deliveries: &[NewDelivery]) -> Result<(), StoreError> {
    let now = now_utc();
    for d in deliveries {
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::url.eq(&d.url),
                webhook_deliveries::run_id.eq(d.run_id),
                webhook_deliveries::event.eq(&d.event),
                webhook_deliveries::body.eq(&d.body),
                webhook_deliveries::status.eq(status::PENDING),
                webhook_deliveries::attempt.eq(0),
                webhook_deliveries::created_at.eq(now),
                webhook_deliveries::next_attempt_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The deliveries to attempt now: for each URL, its oldest pending delivery, if it is due (a URL's
/// later deliveries wait behind it, so that a receiver gets its events in order).
pub fn due(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<Vec<Delivery>, StoreError> {
    let pending: Vec<Delivery> = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(status::PENDING))
        .order(webhook_deliveries::id.asc())
        .limit(1000)
        .select(Delivery::as_select())
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    Ok(pending.into_iter().filter(|d| seen.insert(d.url.clone())).filter(|d| d.next_attempt_at <= now).collect())
}

/// Claims delivery `id` for one attempt (its attempt count still `attempt`): pushes its next attempt
/// to `hold_until`, so that no other process sends it meanwhile. False when another process took it.
pub fn claim(conn: &mut AnyConnection, id: i64, attempt: i32, hold_until: NaiveDateTime) -> Result<bool, StoreError> {
    let changed = diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::attempt.eq(attempt))
            .filter(webhook_deliveries::status.eq(status::PENDING)),
    )
    .set((webhook_deliveries::attempt.eq(attempt + 1), webhook_deliveries::next_attempt_at.eq(hold_until)))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records that delivery `id` was answered with a success.
pub fn delivered(conn: &mut AnyConnection, id: i64, http_status: i32) -> Result<(), StoreError> {
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq(status::DELIVERED),
            webhook_deliveries::http_status.eq(Some(http_status)),
            webhook_deliveries::error.eq(None::<String>),
            webhook_deliveries::delivered_at.eq(Some(now_utc())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt of delivery `id`: tried again at `retry_at`, or given up (`None`).
pub fn attempt_failed(
    conn: &mut AnyConnection,
    id: i64,
    http_status: Option<i32>,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> Result<(), StoreError> {
    let status = if retry_at.is_some() { status::PENDING } else { status::FAILED };
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq(status),
            webhook_deliveries::http_status.eq(http_status),
            webhook_deliveries::error.eq(Some(error)),
            webhook_deliveries::next_attempt_at.eq(retry_at.unwrap_or_else(now_utc)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The newest `limit` deliveries, optionally of one run, newest first.
pub fn list(conn: &mut AnyConnection, run_id: Option<i64>, limit: i64) -> Result<Vec<Delivery>, StoreError> {
    let mut query = webhook_deliveries::table.select(Delivery::as_select()).into_boxed();
    if let Some(run_id) = run_id {
        query = query.filter(webhook_deliveries::run_id.eq(run_id));
    }
    Ok(query.order(webhook_deliveries::id.desc()).limit(limit).load(conn)?)
}
