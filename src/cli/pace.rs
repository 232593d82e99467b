//! When the load tools (`dockgate bench`, `dockgate authz-bench`) start each call.
//!
//! At a fixed total rate, call `k` of a phase is due at `start + k / rate`, whichever caller
//! takes it: one thread sleeps to each due instant (the kernel's high-resolution timers, so
//! tens of microseconds late at most) and hands the slot to the next free caller. Tokio's
//! timers cannot do this: they fire on a 1 ms wheel, and per-caller intervals on it started
//! 14 % of calls within 100 µs of another one at 1,000 calls/s (and left 2 ms gaps elsewhere),
//! so the tool measured bursts of two calls where it meant a steady rate (BENCHMARKS.md, tenth
//! session).
//!
//! When every caller is busy past a slot, the slot waits for the first free caller; slots
//! missed by more than a whole period (at least 1 ms, so that very high rates still measure)
//! are dropped rather than released in a burst, so the rate falls instead of bunching calls. Each slot carries its due instant, so the tools can
//! report how late calls started (their start lag) beside how long they took.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Mutex, mpsc};

use super::bench::pct;

/// The slots of one measured phase, shared by its callers.
pub struct Schedule {
    deadline: Instant,
    /// How late a slot may be taken before it is dropped (zero without pacing).
    tolerance: Duration,
    /// `None`: as fast as possible (every caller starts its next call at once).
    slots: Option<Mutex<mpsc::Receiver<Instant>>>,
    /// Slots dropped because every caller was busy past them.
    missed: Arc<AtomicU64>,
}

impl Schedule {
    /// Slots for `duration` from now at `rate` calls/s in total (0: no pacing).
    pub fn start(rate: u64, duration: Duration) -> anyhow::Result<Self> {
        let deadline = Instant::now() + duration;
        if rate == 0 {
            return Ok(Self {
                deadline,
                tolerance: Duration::ZERO,
                slots: None,
                missed: Arc::default(),
            });
        }
        let period = Duration::from_secs_f64(1.0 / rate as f64).max(Duration::from_nanos(1));
        let (tx, rx) = mpsc::channel(1);
        let missed = Arc::new(AtomicU64::new(0));
        let skipped = missed.clone();
        std::thread::Builder::new()
            .name("dockgate-pacer".into())
            .spawn(move || release(&tx, period, deadline, &skipped))
            .context("cannot start the load tool's pacing thread (--rate)")?;
        Ok(Self {
            deadline,
            tolerance: period.max(Duration::from_millis(1)),
            slots: Some(Mutex::new(rx)),
            missed,
        })
    }

    /// Waits for this caller's next slot and returns its due instant; `None` once the phase
    /// is over. A slot already late by more than the tolerance when taken is dropped.
    pub async fn next(&self) -> Option<Instant> {
        let Some(rx) = &self.slots else {
            let now = Instant::now();
            return (now < self.deadline).then_some(now);
        };
        let mut rx = rx.lock().await;
        loop {
            let due = rx.recv().await?;
            if Instant::now() <= due + self.tolerance {
                return Some(due);
            }
            self.missed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Slots dropped so far because every caller was busy past them.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

/// The pacing thread: sends each due instant when it comes, until `deadline`.
fn release(tx: &mpsc::Sender<Instant>, period: Duration, deadline: Instant, missed: &AtomicU64) {
    let mut due = Instant::now();
    while due < deadline {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // Waits while the previous slot is still untaken (every caller busy); the slot may then
        // be stale, and the caller that takes it drops it.
        if tx.blocking_send(due).is_err() {
            return;
        }
        due += period;
        let now = Instant::now();
        if now > due + period {
            let behind = (now - due).as_secs_f64() / period.as_secs_f64();
            missed.fetch_add(behind as u64, Ordering::Relaxed);
            due = now;
        }
    }
}

/// Microseconds from `due` to `started` (0 when it started on time or early).
pub fn lag_us(due: Instant, started: Instant) -> u64 {
    u64::try_from(started.saturating_duration_since(due).as_micros()).unwrap_or(u64::MAX)
}

/// How late the calls of one phase started after their slots, and the slots missed: what
/// both tools report beside their latencies (nothing for an unpaced phase).
pub struct StartLags {
    /// Microseconds, sorted once the phase is over; `None` without pacing.
    lags_us: Option<Vec<u64>>,
    missed: u64,
}

impl StartLags {
    /// Empty, for a phase run on `schedule`.
    pub fn for_schedule(schedule: &Schedule) -> Self {
        Self {
            lags_us: schedule.slots.is_some().then(Vec::new),
            missed: 0,
        }
    }

    /// Adds one caller's lags.
    pub fn extend(&mut self, lags: Vec<u64>) {
        if let Some(l) = self.lags_us.as_mut() {
            l.extend(lags);
        }
    }

    /// Closes the phase: sorts the lags and takes the schedule's missed slots.
    pub fn finish(&mut self, schedule: &Schedule) {
        self.missed = schedule.missed();
        if let Some(l) = self.lags_us.as_mut() {
            l.sort_unstable();
        }
    }

    /// One line for the report; `None` for an unpaced phase.
    pub fn summary(&self) -> Option<String> {
        let sorted = self.lags_us.as_ref()?;
        Some(format!(
            "start lag after each slot: p50 {} µs  p99 {} µs  max {} µs  slots missed {}",
            pct(sorted, 0.50),
            pct(sorted, 0.99),
            sorted.last().copied().unwrap_or(0),
            self.missed,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_come_at_the_rate_and_stop_at_the_deadline() {
        let s = Schedule::start(200, Duration::from_millis(250)).expect("pacer thread");
        let mut due = Vec::new();
        while let Some(d) = s.next().await {
            due.push(d);
        }
        // 250 ms at 200/s: 50 slots (49 to 51 with the first at once and the clock's edges).
        assert!((49..=51).contains(&due.len()), "{} slots", due.len());
        for w in due.windows(2) {
            assert_eq!(
                w[1] - w[0],
                Duration::from_millis(5),
                "slots are due one period apart"
            );
        }
    }

    #[tokio::test]
    async fn a_busy_caller_loses_missed_slots_instead_of_bursting() {
        let s = Schedule::start(1000, Duration::from_millis(60)).expect("pacer thread");
        let first = s.next().await.expect("a first slot");
        // Busy for 20 periods: the slots due meanwhile are not all released at once.
        std::thread::sleep(Duration::from_millis(20));
        let mut after = Vec::new();
        while let Some(d) = s.next().await {
            after.push(d);
        }
        assert!(after.len() < 50, "{} slots after the pause", after.len());
        assert!(s.missed() >= 15, "{} slots counted as missed", s.missed());
        let late = after
            .iter()
            .filter(|d| d.duration_since(first) < Duration::from_millis(19))
            .count();
        assert_eq!(late, 0, "slots due during the busy time were released late");
    }

    #[tokio::test]
    async fn a_rate_past_the_clock_still_releases_slots() {
        let s = Schedule::start(u64::MAX, Duration::from_millis(20)).expect("pacer thread");
        let mut taken = 0;
        while s.next().await.is_some() {
            taken += 1;
        }
        assert!(taken > 0, "no slot was taken at an unreachable rate");
    }

    #[tokio::test]
    async fn start_lags_are_reported_for_paced_phases_only() {
        let paced = Schedule::start(1000, Duration::from_millis(5)).expect("pacer thread");
        let mut lags = StartLags::for_schedule(&paced);
        lags.extend(vec![30, 10, 20]);
        lags.finish(&paced);
        let line = lags.summary().expect("a paced phase has a lag line");
        assert!(
            line.contains("p50 20 µs") && line.contains("max 30 µs"),
            "{line}"
        );
        let unpaced = Schedule::start(0, Duration::from_millis(5)).expect("schedule");
        let mut none = StartLags::for_schedule(&unpaced);
        none.extend(vec![1]);
        assert!(none.summary().is_none());
    }

    #[test]
    fn lag_counts_lateness_only() {
        let t = Instant::now();
        assert_eq!(lag_us(t, t + Duration::from_micros(250)), 250);
        assert_eq!(lag_us(t + Duration::from_micros(250), t), 0);
    }

    #[tokio::test]
    async fn without_a_rate_every_call_may_start_until_the_deadline() {
        let s = Schedule::start(0, Duration::from_millis(20)).expect("schedule");
        assert!(s.next().await.is_some());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(s.next().await.is_none());
    }
}
