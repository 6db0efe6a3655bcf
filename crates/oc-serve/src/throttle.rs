//! Failed logins per client address: after `MAX_FAILURES` failures within `WINDOW`, the address
//! is refused without its credentials being checked until the window has passed, so passwords
//! and tokens cannot be guessed at network speed. A success does not clear the count (one
//! valid credential must not buy unlimited guesses at others), and IPv6 addresses count per
//! /64 (one host holds a whole /64). Bounded memory: at most `MAX_CLIENTS` addresses are
//! tracked (the oldest windows are dropped first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
const MAX_CLIENTS: usize = 10_000;

/// The unit failures are counted by: the address, or its /64 for IPv6.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

#[derive(Default)]
pub struct Throttle {
    /// Address → (failures, start of its window).
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// How long `ip` must still wait, if it is refused now.
    pub fn wait(&self, ip: IpAddr) -> Option<Duration> {
        self.wait_at(ip, Instant::now())
    }

    fn wait_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (n, since) = map.get(&key(ip))?;
        let elapsed = now.saturating_duration_since(*since);
        (*n >= MAX_FAILURES && elapsed < WINDOW).then(|| WINDOW - elapsed)
    }

    pub fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now())
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        let ip = key(ip);
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CLIENTS && !map.contains_key(&ip) {
            map.retain(|_, (_, since)| now.saturating_duration_since(*since) < WINDOW);
            if map.len() >= MAX_CLIENTS
                && let Some(oldest) = map.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let e = map.entry(ip).or_insert((0, now));
        if now.saturating_duration_since(e.1) >= WINDOW {
            *e = (0, now);
        }
        e.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_ten_failures_for_the_rest_of_the_minute() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(t.wait_at(a, t0), None, "failure {i}");
            t.failed_at(a, t0);
        }
        let w = t.wait_at(a, t0 + Duration::from_secs(15)).unwrap();
        assert_eq!(w, Duration::from_secs(45));
        assert_eq!(t.wait_at(b, t0), None, "other addresses are not affected");
        assert_eq!(t.wait_at(a, t0 + WINDOW), None, "the window passes");
        t.failed_at(a, t0 + WINDOW);
        assert_eq!(t.wait_at(a, t0 + WINDOW), None, "a new window starts");
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            t.failed_at(ip, now);
        }
        assert!(
            t.wait_at("2001:db8:1:2::ffff".parse().unwrap(), now)
                .is_some()
        );
        assert!(t.wait_at("2001:db8:1:3::1".parse().unwrap(), now).is_none());
    }

    #[test]
    fn memory_is_bounded() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 50) {
            t.failed_at(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(t.failures.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
