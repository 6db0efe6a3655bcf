//! HTTP(S) downloads: a conditional GET (the cached copy's ETag and Last-Modified), at most
//! `rate` requests per second to one host, retries of what is worth retrying (429, 5xx, a
//! timeout, a broken connection or a body cut short) after the server's `Retry-After` or an
//! exponential backoff, and a clear reason when a page is given up.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::cache::{Entry, Meta};
use super::{FetchError, Fetched, Policy};

/// A `Retry-After` longer than this is not waited for: the page fails, naming the wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// First backoff; doubled at each retry.
const BACKOFF: Duration = Duration::from_millis(500);

pub(super) struct Client {
    http: reqwest::Client,
    policy: Policy,
    /// Per host, when its next request may start.
    next_slot: tokio::sync::Mutex<HashMap<String, Instant>>,
}

/// Why one attempt failed, and whether another is worth making.
enum Attempt {
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
    GiveUp(FetchError),
}

impl Client {
    pub fn new(policy: &Policy) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("opencoll/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client {
            http,
            policy: policy.clone(),
            next_slot: Default::default(),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Waits for this host's next slot (requests to one host are `interval` apart).
    async fn polite(&self, host: &str) {
        let at = {
            let mut slots = self.next_slot.lock().await;
            take_slot(&mut slots, host, Instant::now(), self.policy.interval)
        };
        tokio::time::sleep_until(at).await;
    }

    pub async fn get(&self, url: &str, entry: &Entry) -> Result<Fetched, FetchError> {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let cached = entry.meta();
        if let Some(m) = &cached
            && m.is_fresh(self.policy.max_age, chrono::Utc::now())
        {
            return Ok(Fetched {
                path: entry.data.clone(),
                content_type: m.content_type.clone(),
            });
        }
        let mut last = String::new();
        for attempt in 0..=self.policy.retries {
            self.polite(&host).await;
            match self.attempt(url, entry, cached.as_ref()).await {
                Ok(f) => return Ok(f),
                Err(Attempt::GiveUp(e)) => return Err(e),
                Err(Attempt::Retry { reason, wait }) => {
                    last = reason;
                    if attempt == self.policy.retries {
                        break;
                    }
                    let wait = wait.unwrap_or(BACKOFF * 2u32.saturating_pow(attempt));
                    if wait > MAX_RETRY_AFTER {
                        return Err(FetchError::new(
                            url,
                            "cannot fetch",
                            format!(
                                "{last}, and the server asks to wait {} s (more than {} s)",
                                wait.as_secs(),
                                MAX_RETRY_AFTER.as_secs()
                            ),
                        ));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
        Err(FetchError::new(
            url,
            "cannot fetch",
            format!(
                "{last} (gave up after {} attempts)",
                self.policy.retries + 1
            ),
        ))
    }

    async fn attempt(
        &self,
        url: &str,
        entry: &Entry,
        cached: Option<&Meta>,
    ) -> Result<Fetched, Attempt> {
        let mut req = self.http.get(url);
        if let Some(m) = cached {
            if let Some(etag) = &m.etag {
                req = req.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = m.last_modified_http() {
                req = req.header(IF_MODIFIED_SINCE, lm);
            }
        }
        let resp = req.send().await.map_err(|e| transport(url, e))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED
            && let Some(m) = cached
        {
            let revalidated = Meta {
                checked_at: Some(chrono::Utc::now().to_rfc3339()),
                server_max_age: max_age(resp.headers()),
                ..m.clone()
            };
            // a note that cannot be written only costs a request next time
            let _ = entry.note(&revalidated);
            return Ok(Fetched {
                path: entry.data.clone(),
                content_type: m.content_type.clone(),
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(Attempt::Retry {
                reason: format!("HTTP {status}"),
                wait: retry_after(resp.headers()),
            });
        }
        if !status.is_success() {
            return Err(Attempt::GiveUp(FetchError::new(
                url,
                "cannot fetch",
                format!("HTTP {status}"),
            )));
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let meta = Meta {
            url: url.to_string(),
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
            content_type: header(CONTENT_TYPE),
            checked_at: Some(chrono::Utc::now().to_rfc3339()),
            server_max_age: max_age(resp.headers()),
        };
        let cache_err =
            |e: std::io::Error| Attempt::GiveUp(FetchError::new(url, "cannot write the cache", e));
        let max = self.policy.max_bytes;
        if let Some(len) = resp.content_length()
            && len > max
        {
            return Err(Attempt::GiveUp(super::too_large(url, len, true, max)));
        }
        let mut file = tokio::fs::File::create(entry.tmp())
            .await
            .map_err(cache_err)?;
        let mut body = resp.bytes_stream();
        let mut received = 0u64;
        while let Some(chunk) = body.next().await {
            let written = match chunk {
                Ok(c) => {
                    received += c.len() as u64;
                    if received > max {
                        Err(Attempt::GiveUp(super::too_large(url, received, false, max)))
                    } else {
                        file.write_all(&c).await.map_err(cache_err)
                    }
                }
                // a body cut short (fewer bytes than Content-Length) ends here
                Err(e) => Err(Attempt::Retry {
                    reason: format!("download interrupted: {}", reason_of(e)),
                    wait: None,
                }),
            };
            if let Err(e) = written {
                entry.discard();
                return Err(e);
            }
        }
        let flushed = file.flush().await.map_err(cache_err);
        drop(file);
        if let Err(e) = flushed.and_then(|_| entry.commit(&meta).map_err(cache_err)) {
            entry.discard();
            return Err(e);
        }
        Ok(Fetched {
            path: entry.data.clone(),
            content_type: meta.content_type,
        })
    }
}

/// When a request to `host` may start, booking the slot after it.
fn take_slot(
    slots: &mut HashMap<String, Instant>,
    host: &str,
    now: Instant,
    interval: Duration,
) -> Instant {
    let slot = slots.get(host).copied().unwrap_or(now).max(now);
    slots.insert(host.to_string(), slot + interval);
    slot
}

/// A failure before any response: timeouts and connection errors are retried, a malformed
/// URL or a redirect loop is not.
fn transport(url: &str, e: reqwest::Error) -> Attempt {
    if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() {
        Attempt::Retry {
            reason: reason_of(e),
            wait: None,
        }
    } else {
        Attempt::GiveUp(FetchError::new(url, "cannot fetch", reason_of(e)))
    }
}

/// reqwest's message with its causes (the cause says "connection refused", "timed out"…).
fn reason_of(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_string();
    }
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `Cache-Control: max-age=N` (None with `no-cache` or `no-store`).
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers
        .get(CACHE_CONTROL)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.iter().any(|p| *p == "no-cache" || *p == "no-store") {
        return None;
    }
    parts
        .iter()
        .find_map(|p| p.strip_prefix("max-age="))
        .and_then(|n| n.trim_matches('"').parse().ok())
}

/// `Retry-After: 3` or `Retry-After: <HTTP date>`.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?.to_utc();
    (at - chrono::Utc::now())
        .to_std()
        .ok()
        .or(Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_one_host_are_spaced_others_are_not() {
        let mut slots = HashMap::new();
        let t0 = Instant::now();
        let gap = Duration::from_millis(200);
        let a: Vec<Duration> = (0..3)
            .map(|_| take_slot(&mut slots, "a.fr", t0, gap) - t0)
            .collect();
        assert_eq!(a, [Duration::ZERO, gap, gap * 2]);
        assert_eq!(take_slot(&mut slots, "b.fr", t0, gap), t0);
        // a host idle for long starts again at once
        let later = t0 + Duration::from_secs(5);
        assert_eq!(take_slot(&mut slots, "a.fr", later, gap), later);
    }

    #[test]
    fn cache_control_max_age() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert(CACHE_CONTROL, "public, max-age=3600".parse().unwrap());
        assert_eq!(max_age(&h), Some(3600));
        h.insert(CACHE_CONTROL, "max-age=60, no-cache".parse().unwrap());
        assert_eq!(max_age(&h), None);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
