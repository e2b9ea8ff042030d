//! What the engine's two listeners — the HTTP API and dashboard (the binary's `app/web.rs`)
//! and the workers' [`crate::gateway`] — share to stay available to slow or hostile clients:
//! a cap on open connections ([`ConnectionCap`], with a log line when it is reached) and a
//! watch on each connection's traffic ([`watch`]: no byte in either direction for the idle
//! timeout ends it). The header-read timeout is hyper's own (`header_read_timeout`).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most connections a listener keeps open; past it new ones are refused and a warning is
/// logged (at most every [`CapLog::EVERY`], with how many were refused meanwhile).
pub struct ConnectionCap {
    slots: Arc<Semaphore>,
    max: usize,
    /// The setting that raises it, named in the log line.
    setting: &'static str,
    log: Mutex<CapLog>,
}

/// When the cap was last logged, and refusals since.
#[derive(Default)]
struct CapLog {
    at: Option<Instant>,
    refused: usize,
}

impl CapLog {
    const EVERY: Duration = Duration::from_secs(10);
}

impl ConnectionCap {
    pub fn new(max: usize, setting: &'static str) -> Self {
        Self { slots: Arc::new(Semaphore::new(max)), max, setting, log: Mutex::default() }
    }

    /// A slot for a new connection from `peer` (held as long as it is open), or `None` when
    /// `max` are open: the caller refuses it.
    pub fn admit(&self, peer: std::net::SocketAddr) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.refused += 1;
        if log.at.is_none_or(|at| at.elapsed() >= CapLog::EVERY) {
            tracing::warn!(
                max = self.max,
                %peer,
                refused = log.refused,
                "connection cap reached: {} connections are open ({} = {}); refusing new ones until some close",
                self.max,
                self.setting,
                self.max,
            );
            *log = CapLog { at: Some(Instant::now()), refused: 0 };
        }
        None
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }
}

/// `io` with a record of when a byte last moved through it, and that record.
pub fn watch<T>(io: T) -> (Watched<T>, Activity) {
    let activity = Activity { epoch: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) };
    (Watched { io, activity: activity.clone() }, activity)
}

/// When a connection last moved a byte (either way).
#[derive(Clone)]
pub struct Activity {
    epoch: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `limit`.
    pub async fn idle_for(&self, limit: Duration) {
        loop {
            let last = self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// An I/O stream whose reads and writes are recorded in its [`Activity`].
pub struct Watched<T> {
    io: T,
    activity: Activity,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_cap_admits_up_to_its_size_and_frees_a_slot_when_a_connection_ends() {
        let cap = ConnectionCap::new(2, "http.max_connections");
        let peer = "127.0.0.1:9".parse().unwrap();
        let (a, b) = (cap.admit(peer), cap.admit(peer));
        assert!(a.is_some() && b.is_some() && cap.admit(peer).is_none(), "the third is refused");
        assert_eq!(cap.open(), 2);
        drop(a);
        assert!(cap.admit(peer).is_some(), "a closed connection frees its slot");
    }

    #[tokio::test]
    async fn traffic_either_way_postpones_idleness() {
        let (client, server) = tokio::io::duplex(64);
        let (mut watched, activity) = watch(server);
        let mut client = client;
        let limit = Duration::from_millis(300);
        let started = Instant::now();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            client.write_all(b"x").await.unwrap();
            let mut one = [0u8; 1];
            watched.read_exact(&mut one).await.unwrap();
        }
        activity.idle_for(limit).await;
        assert!(started.elapsed() >= Duration::from_millis(450 + 300), "{:?}", started.elapsed());
    }
}
