//! The shared fetcher against a local server: retries, conditional requests, size cap, archive.

mod common;

use std::time::Duration;

use common::{Backend, TestStore};
use ingest::fetch::{FetchRequest, sha256_hex};
use ingest::{FetchMode, FetchSettings, Fetcher, IngestError};
use store::with_conn;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_stores!(
    retries_429_honouring_retry_after_then_succeeds,
    does_not_retry_404,
    conditional_request_reuses_the_archived_payload,
    refuses_a_body_over_the_cap,
    offline_mode_replays_only_what_was_archived,
    a_large_body_is_spooled_and_archived_in_chunks_and_old_whole_payloads_still_load,
);

fn settings() -> FetchSettings {
    FetchSettings {
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_secs(3),
        first_byte_timeout: Duration::from_secs(5),
        ..FetchSettings::default()
    }
}

fn request(server: &MockServer, p: &str) -> FetchRequest {
    FetchRequest { url: format!("{}{p}", server.uri()), ..FetchRequest::default() }
}

async fn retries_429_honouring_retry_after_then_succeeds(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/data"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/data"))
        .respond_with(ResponseTemplate::new(200).set_body_string("hello"))
        .mount(&server)
        .await;
    let fetcher = Fetcher::new(store.pool.clone(), settings(), FetchMode::Online).expect("fetcher");
    let started = std::time::Instant::now();
    let mut fetched = fetcher.fetch(&request(&server, "/data")).await.expect("second attempt succeeds");
    assert_eq!(fetched.bytes().expect("body"), b"hello");
    assert!(started.elapsed() >= Duration::from_millis(900), "waited for Retry-After (1 s), not the 5 ms backoff");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
    // Archived by content hash.
    let sha = fetched.sha256.clone();
    assert_eq!(sha, sha256_hex(b"hello"));
    let archived = with_conn(&store.pool, move |c| store::provenance::load_payload(c, &sha)).await.expect("archived");
    assert_eq!(archived, b"hello");
}

async fn does_not_retry_404(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such thing"))
        .mount(&server)
        .await;
    let fetcher = Fetcher::new(store.pool.clone(), settings(), FetchMode::Online).expect("fetcher");
    let error = fetcher.fetch(&request(&server, "/missing")).await.expect_err("404 fails");
    assert!(matches!(&error, IngestError::Http { status: 404, body, .. } if body.contains("no such thing")), "{error}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

async fn conditional_request_reuses_the_archived_payload(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/file.csv"))
        .and(header("If-None-Match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/file.csv"))
        .respond_with(ResponseTemplate::new(200).insert_header("ETag", "\"v1\"").set_body_string("a,b\n1,2\n"))
        .mount(&server)
        .await;
    let fetcher = Fetcher::new(store.pool.clone(), settings(), FetchMode::Online).expect("fetcher");
    let mut first = fetcher.fetch(&request(&server, "/file.csv")).await.expect("first fetch");
    assert!(!first.not_modified);
    let mut second = fetcher.fetch(&request(&server, "/file.csv")).await.expect("second fetch");
    assert!(second.not_modified, "the server said 304");
    assert_eq!(second.bytes().expect("body"), first.bytes().expect("body"));
    assert_eq!(second.sha256, first.sha256);
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].headers.get("If-None-Match").and_then(|v| v.to_str().ok()), Some("\"v1\""));
}

async fn refuses_a_body_over_the_cap(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 4096]))
        .mount(&server)
        .await;
    let capped = FetchSettings { max_body_bytes: 1024, ..settings() };
    let fetcher = Fetcher::new(store.pool.clone(), capped, FetchMode::Online).expect("fetcher");
    let error = fetcher.fetch(&request(&server, "/big")).await.expect_err("too large");
    assert!(matches!(error, IngestError::TooLarge { limit: 1024, .. }), "{error}");
}

async fn offline_mode_replays_only_what_was_archived(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_string("payload")).mount(&server).await;
    let online = Fetcher::new(store.pool.clone(), settings(), FetchMode::Online).expect("fetcher");
    online.fetch(&request(&server, "/known")).await.expect("online fetch");
    let offline = Fetcher::new(store.pool.clone(), settings(), FetchMode::Offline).expect("fetcher");
    let mut replayed = offline.fetch(&request(&server, "/known")).await.expect("replayed");
    assert_eq!(replayed.bytes().expect("body"), b"payload");
    let error = offline.fetch(&request(&server, "/unknown")).await.expect_err("never fetched");
    assert!(matches!(error, IngestError::NotArchived(_)), "{error}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1), "offline mode sends nothing");
}

async fn a_large_body_is_spooled_and_archived_in_chunks_and_old_whole_payloads_still_load(backend: Backend) {
    use diesel::prelude::*;
    use store::schema::{raw_payload_chunks, raw_payloads};
    let Some(store) = TestStore::new(backend).await else { return };
    // Larger than what stays in memory (8 MiB) and than two archive chunks (4 MiB each).
    let body: Vec<u8> = (0..9 * 1024 * 1024 + 17u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/big.json"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body.clone()))
        .mount(&server)
        .await;
    let fetcher = Fetcher::new(store.pool.clone(), settings(), FetchMode::Online).expect("fetcher");
    let mut fetched = fetcher.fetch(&request(&server, "/big.json")).await.expect("fetched");
    assert_eq!(fetched.sha256, sha256_hex(&body));
    assert_eq!(fetched.body.len(), body.len() as u64);
    assert!(fetched.bytes().expect("body") == body, "the spooled body is the served one");

    let sha = fetched.sha256.clone();
    let (chunks, archived) = with_conn(&store.pool, move |c| {
        let chunks: i64 =
            raw_payload_chunks::table.filter(raw_payload_chunks::sha256.eq(&sha)).count().get_result(c)?;
        Ok((chunks, store::provenance::load_payload(c, &sha)?))
    })
    .await
    .expect("archived");
    assert_eq!(chunks, 3);
    assert!(archived == body, "the archive gives back the same bytes");

    // A payload archived whole, before chunks existed, still loads (and replays offline).
    let old = b"{\"result\": []}".to_vec();
    let old_sha = sha256_hex(&old);
    let (key, bytes) = (old_sha.clone(), old.clone());
    with_conn(&store.pool, move |c| {
        diesel::insert_into(raw_payloads::table)
            .values((
                raw_payloads::sha256.eq(&key),
                raw_payloads::byte_size.eq(bytes.len() as i64),
                raw_payloads::body.eq(&bytes),
                raw_payloads::first_fetched_at.eq(store::now_utc()),
            ))
            .execute(c)?;
        store::provenance::record_fetch(
            c,
            &store::provenance::FetchRecord {
                run_id: None,
                resource_id: None,
                url: "https://example.org/old".into(),
                http_status: 200,
                not_modified: false,
                payload_sha256: Some(key.clone()),
                etag: None,
                last_modified: None,
                fetched_at: store::now_utc(),
            },
        )
    })
    .await
    .expect("old-style archive");
    let offline = Fetcher::new(store.pool.clone(), settings(), FetchMode::Offline).expect("fetcher");
    let request = FetchRequest { url: "https://example.org/old".into(), ..FetchRequest::default() };
    let mut replayed = offline.fetch(&request).await.expect("replayed");
    assert_eq!(replayed.sha256, old_sha);
    assert_eq!(replayed.bytes().expect("body"), old);
}
