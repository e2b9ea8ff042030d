//! The audit of `netpulse loadtest fleet`, after the workers stopped and ingest drained,
//! read from PostgreSQL directly: every result a gateway acknowledged to a worker is stored
//! (rows = acknowledged; nothing else writes in the scratch database: no monitor checks from
//! the nodes' local region), none twice (rows = distinct ids), and every result id a
//! dashboard client saw is among the stored ones (by id). A result a worker still holds at
//! the end (its outbox: not acknowledged) is reported as undelivered.

use super::dashboards::Seen;
use super::swarm::SwarmCounts;
use std::collections::HashSet;

/// What the audit found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Audit {
    /// Results the gateways acknowledged to the workers.
    pub acked: u64,
    /// Results still in the workers' outboxes at the end.
    pub undelivered: usize,
    pub rows: i64,
    pub distinct_ids: i64,
    /// Rows by provenance (`live`, `synthetic`).
    pub by_provenance: Vec<(String, i64)>,
    /// Acknowledged results not stored (acked − distinct ids, when positive).
    pub lost: i64,
    /// Rows beyond one per id.
    pub duplicated: i64,
    /// Distinct result ids seen on the dashboards (first client of each node).
    pub dashboard_ids: usize,
    /// Of those, how many are not stored.
    pub dashboard_ids_not_stored: i64,
}

impl Audit {
    /// `Ok` when nothing acknowledged was lost, nothing stored twice, nothing shown unstored.
    pub fn verdict(&self) -> anyhow::Result<()> {
        if self.lost != 0 || self.duplicated != 0 || self.dashboard_ids_not_stored != 0 || self.rows < self.acked as i64
        {
            anyhow::bail!(
                "audit failed: {} lost, {} duplicated, {} shown but not stored (acked {}, rows {})",
                self.lost,
                self.duplicated,
                self.dashboard_ids_not_stored,
                self.acked,
                self.rows
            );
        }
        Ok(())
    }
}

pub async fn audit(direct_url: &str, workers: &SwarmCounts, seen: &[Seen]) -> anyhow::Result<Audit> {
    let c = super::super::direct(direct_url).await?;
    let row = c.query_one("SELECT count(*), count(DISTINCT id) FROM check_results", &[]).await?;
    let (rows, distinct_ids): (i64, i64) = (row.get(0), row.get(1));
    let by_provenance = c
        .query("SELECT provenance, count(*) FROM check_results GROUP BY 1 ORDER BY 1", &[])
        .await?
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    let ids: HashSet<&str> = seen.iter().flat_map(|s| s.ids.iter().map(String::as_str)).collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    let mut found = 0i64;
    for chunk in ids.chunks(50_000) {
        let n: i64 = c.query_one("SELECT count(*) FROM check_results WHERE id = ANY($1)", &[&chunk]).await?.get(0);
        found += n;
    }
    Ok(Audit {
        acked: workers.acked,
        undelivered: workers.buffered,
        rows,
        distinct_ids,
        by_provenance,
        lost: (workers.acked as i64 - distinct_ids).max(0),
        duplicated: rows - distinct_ids,
        dashboard_ids: ids.len(),
        dashboard_ids_not_stored: ids.len() as i64 - found,
    })
}
