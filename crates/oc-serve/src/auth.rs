//! Who may connect: HTTP bearer tokens and Postgres users with passwords, from a file and/or
//! the environment. Secrets are kept as SHA-256 digests and compared in constant time; an
//! unknown user costs the same comparison as a wrong password, and both get the same answer.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const ENV_TOKENS: &str = "OPENCOLL_SERVE_TOKENS";
pub const ENV_USERS: &str = "OPENCOLL_SERVE_USERS";

type Hash = [u8; 32];

#[derive(Default, Clone)]
pub struct Auth {
    /// (name, digest): the name is only for logs.
    tokens: Vec<(String, Hash)>,
    users: BTreeMap<String, Hash>,
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
        let h = parse_secret(password)?;
        self.users.insert(name.to_string(), h);
        Ok(())
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

    /// True when the user exists and the password matches. An unknown user is compared with a
    /// dummy digest so both failures take the same time.
    pub fn check_user(&self, user: &str, password: &str) -> bool {
        let g = digest(password);
        let dummy = [0u8; 32];
        let (exists, expected) = match self.users.get(user) {
            Some(h) => (true, h),
            None => (false, &dummy),
        };
        let ok: bool = expected.ct_eq(&g).into();
        ok && exists
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
}
