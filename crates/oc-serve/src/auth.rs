//! Who may connect: HTTP bearer tokens and Postgres users with passwords, from a file and/or
//! the environment. Tokens are kept as SHA-256 digests and compared in constant time. A
//! Postgres password given in clear (or as `scram-sha-256:` keys, `opencoll password`) is kept
//! only as SCRAM-SHA-256 keys, so the password never crosses the network; one given as
//! `sha256:` can only be checked in clear (cleartext password exchange: use TLS). An unknown
//! user goes through the same exchange as a known one with a wrong password, and both get the
//! same answer.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion_postgres::pgwire::api::auth::sasl::scram::gen_salted_password;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const ENV_TOKENS: &str = "OPENCOLL_SERVE_TOKENS";
pub const ENV_USERS: &str = "OPENCOLL_SERVE_USERS";

type Hash = [u8; 32];

/// SCRAM's iteration count (RFC 7677's minimum, PostgreSQL's default).
pub const SCRAM_ITERATIONS: usize = 4096;
const SCRAM_PREFIX: &str = "scram-sha-256:";

/// What the server keeps of a SCRAM password: the salt and `SaltedPassword` (RFC 5802). It
/// opens SCRAM logins (so it is a secret), but does not reveal the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKey {
    pub salt: Vec<u8>,
    pub salted: Vec<u8>,
}

impl ScramKey {
    /// Derives the key of `password` with a fresh random salt.
    pub fn derive(password: &str) -> Result<ScramKey, String> {
        let mut salt = vec![0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| format!("no random salt: {e}"))?;
        let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
        Ok(ScramKey { salt, salted })
    }

    /// The form `--auth-file` and `OPENCOLL_SERVE_USERS` accept: `scram-sha-256:SALT:KEY`.
    pub fn encode(&self) -> String {
        format!(
            "{SCRAM_PREFIX}{}:{}",
            hex::encode(&self.salt),
            hex::encode(&self.salted)
        )
    }

    fn decode(s: &str) -> Result<ScramKey, String> {
        let bad = || {
            "scram-sha-256: must be followed by SALT:KEY in hex, as `opencoll password` writes them"
                .to_string()
        };
        let (salt, salted) = s.split_once(':').ok_or_else(bad)?;
        let salt = hex::decode(salt).map_err(|_| bad())?;
        let salted = hex::decode(salted).map_err(|_| bad())?;
        if salt.is_empty() || salted.len() != 32 {
            return Err(bad());
        }
        Ok(ScramKey { salt, salted })
    }

    fn matches(&self, password: &str) -> bool {
        let given = gen_salted_password(password, &self.salt, SCRAM_ITERATIONS);
        given.ct_eq(&self.salted).into()
    }
}

/// How a Postgres user's password is held, hence how it is asked for.
#[derive(Clone)]
enum UserSecret {
    Scram(ScramKey),
    /// `sha256:` digests: the client must send the password itself.
    Digest(Hash),
}

/// How the server asks a Postgres client for its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgMethod {
    Scram,
    Cleartext,
}

#[derive(Clone)]
pub struct Auth {
    /// (name, digest): the name is only for logs.
    tokens: Vec<(String, Hash)>,
    users: BTreeMap<String, UserSecret>,
    /// Salts the keys of unknown users (so that their salt is steady, as a real user's is).
    mock: Hash,
}

impl Default for Auth {
    fn default() -> Self {
        let mut mock = [0u8; 32];
        // Without randomness the mock salt is only less unpredictable; logins still fail.
        let _ = getrandom::fill(&mut mock);
        Auth {
            tokens: Vec::new(),
            users: BTreeMap::new(),
            mock,
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, not even their digests.
        write!(
            f,
            "Auth {{ {} token(s), {} user(s) }}",
            self.tokens.len(),
            self.users.len()
        )
    }
}

fn digest(secret: &str) -> Hash {
    Sha256::digest(secret.as_bytes()).into()
}

/// `sha256:<64 hex digits>` is a digest; anything else is the secret itself.
fn parse_secret(s: &str) -> Result<Hash, String> {
    match s.strip_prefix("sha256:") {
        Some(h) => {
            let bytes = hex::decode(h).map_err(|_| "sha256: must be followed by 64 hex digits")?;
            bytes
                .try_into()
                .map_err(|_| "sha256: must be followed by 64 hex digits".to_string())
        }
        None if s.is_empty() => Err("empty secret".into()),
        None => Ok(digest(s)),
    }
}

impl Auth {
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.users.is_empty()
    }
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    pub fn add_token(&mut self, name: &str, secret: &str) -> Result<(), String> {
        let h = parse_secret(secret)?;
        self.tokens.push((name.to_string(), h));
        Ok(())
    }

    pub fn add_user(&mut self, name: &str, password: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("empty user name".into());
        }
        let secret = if let Some(key) = password.strip_prefix(SCRAM_PREFIX) {
            UserSecret::Scram(ScramKey::decode(key)?)
        } else if password.starts_with("sha256:") {
            UserSecret::Digest(parse_secret(password)?)
        } else if password.is_empty() {
            return Err("empty secret".into());
        } else {
            UserSecret::Scram(ScramKey::derive(password)?)
        };
        self.users.insert(name.to_string(), secret);
        Ok(())
    }

    /// Users whose password can only be checked in clear (`sha256:` digests).
    pub fn cleartext_users(&self) -> Vec<&str> {
        self.users
            .iter()
            .filter(|(_, s)| matches!(s, UserSecret::Digest(_)))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// How to ask `user` for a password: SCRAM unless the user's secret is a digest. Unknown
    /// users get SCRAM too, so the method does not tell whether a user exists.
    pub fn pg_method(&self, user: &str) -> PgMethod {
        match self.users.get(user) {
            Some(UserSecret::Digest(_)) => PgMethod::Cleartext,
            _ => PgMethod::Scram,
        }
    }

    /// The SCRAM key of `user`; for an unknown user (or one without a key), a key that no
    /// password opens, with a salt that is the same at each attempt.
    pub fn scram_key(&self, user: &str) -> ScramKey {
        if let Some(UserSecret::Scram(k)) = self.users.get(user) {
            return k.clone();
        }
        let mut h = Sha256::new();
        h.update(self.mock);
        h.update(user.as_bytes());
        let salt = h.finalize()[..16].to_vec();
        let mut salted = vec![0u8; 32];
        let _ = getrandom::fill(&mut salted);
        ScramKey { salt, salted }
    }

    /// Reads `OPENCOLL_SERVE_TOKENS` (`name:token,…` or `token,…`) and `OPENCOLL_SERVE_USERS`
    /// (`user:password,…`; a secret may be written `sha256:<hex>`).
    pub fn add_env(&mut self, tokens: Option<&str>, users: Option<&str>) -> Result<(), String> {
        for (i, t) in tokens
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .enumerate()
        {
            let (name, secret) = match t.split_once(':') {
                Some((n, s)) if n != "sha256" => (n.to_string(), s),
                _ => (format!("token{}", i + 1), t),
            };
            self.add_token(&name, secret)
                .map_err(|e| format!("{ENV_TOKENS}, entry {}: {e}", i + 1))?;
        }
        for (i, u) in users
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .enumerate()
        {
            let (name, pw) = u
                .split_once(':')
                .ok_or_else(|| format!("{ENV_USERS}, entry {}: write user:password", i + 1))?;
            self.add_user(name, pw)
                .map_err(|e| format!("{ENV_USERS}, entry {}: {e}", i + 1))?;
        }
        Ok(())
    }

    /// Reads an auth file: one entry a line, `token NAME SECRET` or `user NAME PASSWORD`
    /// (`#` starts a comment; secrets may be `sha256:<hex>`).
    pub fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("auth file {}: {e}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = || format!("{}:{}", path.display(), n + 1);
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["token", name, secret] => self.add_token(name, secret),
                ["user", name, password] => self.add_user(name, password),
                _ => Err("expected `token NAME SECRET` or `user NAME PASSWORD`".into()),
            }
            .map_err(|e| format!("{}: {e}", at()))?;
        }
        Ok(())
    }

    /// The name of the token that matches, comparing with every token in constant time.
    pub fn check_token(&self, given: &str) -> Option<&str> {
        let g = digest(given);
        let mut found = None;
        for (name, h) in &self.tokens {
            if bool::from(h.ct_eq(&g)) {
                found = Some(name.as_str());
            }
        }
        found
    }

    /// True when the user exists and the password, sent in clear, matches. An unknown user is
    /// compared with a dummy digest so both failures take the same time.
    pub fn check_user(&self, user: &str, password: &str) -> bool {
        let g = digest(password);
        let dummy = [0u8; 32];
        match self.users.get(user) {
            Some(UserSecret::Digest(h)) => h.ct_eq(&g).into(),
            Some(UserSecret::Scram(k)) => k.matches(password),
            None => {
                let _: bool = dummy.ct_eq(&g).into();
                false
            }
        }
    }
}

/// True when `addr` only accepts connections from this machine.
pub fn is_loopback(addr: &std::net::SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_users_from_env_and_file() {
        let mut a = Auth::default();
        let h = hex::encode(digest("s3cret"));
        a.add_env(
            Some(&format!("portal:abc, sha256:{h}")),
            Some("alice:pw1,bob:x"),
        )
        .unwrap();
        assert_eq!(a.check_token("abc"), Some("portal"));
        assert_eq!(a.check_token("s3cret"), Some("token2"));
        assert_eq!(a.check_token("nope"), None);
        assert!(a.check_user("alice", "pw1"));
        assert!(!a.check_user("alice", "pw2"));
        assert!(!a.check_user("carol", "pw1"));
        assert!(a.check_user("bob", "x"));

        let dir = std::env::temp_dir().join(format!("oc-auth-{}", std::process::id()));
        std::fs::write(&dir, "# users\nuser dgcl été2026\ntoken ci t0k\n").unwrap();
        a.add_file(&dir).unwrap();
        assert!(a.check_user("dgcl", "été2026"));
        assert_eq!(a.check_token("t0k"), Some("ci"));
        std::fs::write(&dir, "user only_two\n").unwrap();
        let e = a.add_file(&dir).unwrap_err();
        assert!(e.contains(":1:"), "{e}");
        let _ = std::fs::remove_file(&dir);
        assert!(a.add_env(None, Some("nocolon")).is_err());
        assert!(!format!("{a:?}").contains("pw1"));
    }

    /// Clear passwords become SCRAM keys; `sha256:` digests can only be asked in clear; the
    /// `scram-sha-256:` form of `opencoll password` round-trips; unknown users look like
    /// known ones (SCRAM, a steady salt) and no password opens them.
    #[test]
    fn postgres_users_get_scram_keys_unless_given_as_digests() {
        let mut a = Auth::default();
        let key = ScramKey::derive("été 2026").unwrap();
        let h = hex::encode(digest("old"));
        a.add_env(
            None,
            Some(&format!("alice:pw1,bob:sha256:{h},carol:{}", key.encode())),
        )
        .unwrap();
        assert_eq!(a.pg_method("alice"), PgMethod::Scram);
        assert_eq!(a.pg_method("bob"), PgMethod::Cleartext);
        assert_eq!(a.pg_method("carol"), PgMethod::Scram);
        assert_eq!(a.pg_method("mallory"), PgMethod::Scram);
        assert_eq!(a.cleartext_users(), vec!["bob"]);
        assert!(a.scram_key("carol") == key);
        assert!(a.check_user("carol", "été 2026") && !a.check_user("carol", "ete 2026"));
        assert!(a.check_user("alice", "pw1") && a.check_user("bob", "old"));
        // Keys are salted: the same password twice gives two keys.
        assert!(a.scram_key("alice").salt != ScramKey::derive("pw1").unwrap().salt);
        let m1 = a.scram_key("mallory");
        let m2 = a.scram_key("mallory");
        assert_eq!(m1.salt, m2.salt);
        assert!(m1.salted != m2.salted);
        assert!(a.scram_key("trent").salt != m1.salt);
        for bad in [
            "scram-sha-256:zz:00",
            "scram-sha-256:00",
            "scram-sha-256:0011:0011",
        ] {
            let e = Auth::default().add_user("x", bad).unwrap_err();
            assert!(e.contains("opencoll password"), "{e}");
        }
    }
}
