//! Check results written with `COPY … FROM STDIN BINARY`, the fastest way into PostgreSQL
//! (stack notes: ~1M rows/s inside a transaction, vs ~350k with UNNEST).
//!
//! Through a transaction-mode PgBouncer COPY is safe only inside `BEGIN … COMMIT`: every
//! caller runs it in a transaction. tokio-postgres prepares the COPY statement under a name
//! and closes it right after the COPY, still inside that transaction, so no named statement
//! outlives it on the server connection. Ingest ([`super::batch`]) and the burst benchmark's
//! raw COPY comparison (`loadtest`) share this code, so the comparison measures the same
//! encoding.

use netpulse_core::{CheckResult, Timestamp};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::CopyInSink;

/// The `COPY` statement for `table` (shaped like `check_results`).
pub fn statement(table: &str) -> String {
    format!(
        "COPY {table} (id, tenant_id, monitor_id, region, worker, started_at, finished_at, outcome, dns_ms, \
         connect_ms, tls_ms, ttfb_ms, total_ms, status_code, error, cert_expires_at, provenance, cert_issuer) FROM STDIN BINARY"
    )
}

const TYPES: [Type; 18] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::INT4,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
];

/// Stream `rows` into a started COPY (`sink`, from `copy_in(&statement(…))`) and finish it;
/// returns the number of rows the server stored.
pub async fn write_results(
    sink: CopyInSink<bytes::Bytes>,
    rows: &[&CheckResult],
) -> Result<u64, tokio_postgres::Error> {
    let writer = BinaryCopyInWriter::new(sink, &TYPES);
    let mut writer = std::pin::pin!(writer);
    for r in rows {
        let ms = |v: Option<u32>| v.map(|v| v as i32);
        let row: [&(dyn ToSql + Sync); 18] = [
            &r.id.as_str(),
            &r.tenant_id.as_str(),
            &r.monitor_id.as_str(),
            &r.region,
            &r.worker,
            &r.started_at.millis(),
            &r.finished_at.millis(),
            &r.outcome.as_str(),
            &ms(r.timings.dns_ms),
            &ms(r.timings.connect_ms),
            &ms(r.timings.tls_ms),
            &ms(r.timings.ttfb_ms),
            &ms(r.timings.total_ms),
            &r.status_code.map(i32::from),
            &r.error,
            &r.cert_expires_at.map(Timestamp::millis),
            &r.provenance.as_str(),
            &r.cert_issuer,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await
}
