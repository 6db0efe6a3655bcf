//! Helpers for end-to-end tests: a temporary project and the real `opencoll` binary.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Proj {
    pub dir: tempfile::TempDir,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The text of a pipeline (or catalog) YAML written for the tests,
/// `tests/fixtures/pipelines/<rel>`, with each `${NAME}` placeholder replaced by its value in
/// `vars`. Every placeholder in the file must be given a value, and every value must be used.
pub fn fixture(rel: &str, vars: &[(&str, &str)]) -> String {
    let path = repo().join("tests/fixtures/pipelines").join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = String::with_capacity(text.len());
    let mut used = vec![false; vars.len()];
    let mut rest = text.as_str();
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .unwrap_or_else(|| panic!("{}: unclosed placeholder", path.display()));
        let name = &after[..end];
        let i = vars
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{}: no value given for ${name}", path.display()));
        out.push_str(vars[i].1);
        used[i] = true;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    for ((name, _), used) in vars.iter().zip(used) {
        assert!(used, "{}: no placeholder for {name}", path.display());
    }
    out
}

/// The real-data fixtures shared beside the repository. Tests that use them fail (they do not
/// skip) when the folder is missing: set OPENCOLL_SHARED to point at another copy.
pub fn shared() -> PathBuf {
    let p = std::env::var_os("OPENCOLL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared"));
    let real = p.join("fixtures/real");
    assert!(
        real.is_dir(),
        "real fixtures not found at {} (set OPENCOLL_SHARED to the shared/ folder)",
        real.display()
    );
    real.canonicalize().unwrap()
}

impl Proj {
    /// A copy of the repository's project (catalog, pipelines, views, samples).
    pub fn samples() -> Proj {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(repo().join("catalog.yaml"), dir.path().join("catalog.yaml")).unwrap();
        for d in ["pipelines", "sql", "data/samples", "data/reference"] {
            copy_dir(&repo().join(d), &dir.path().join(d));
        }
        Proj { dir }
    }

    /// An empty project with these domains.
    pub fn empty(domains: &[&str]) -> Proj {
        let dir = tempfile::tempdir().unwrap();
        let mut cat = String::from("lake: data/lake\ndomains:\n");
        for d in domains {
            cat.push_str(&["  ", d, ": { title: ", d, " }\n"].concat());
        }
        std::fs::write(dir.path().join("catalog.yaml"), cat).unwrap();
        Proj { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("--project")
            .arg(self.path())
            .args(args)
            .env_remove("OPENCOLL_LAKE")
            .output()
            .expect("run opencoll")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "opencoll {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A query's CSV rows (header excluded).
    pub fn rows(&self, sql: &str) -> Vec<String> {
        let out = self.ok(&["sql", "--format", "csv", sql]);
        out.lines().skip(1).map(str::to_string).collect()
    }

    /// A single-value query.
    pub fn value(&self, sql: &str) -> String {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "{sql} gave {rows:?}");
        rows[0].clone()
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `cmd`; asserts it succeeds (with its stderr in the message); returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The path printed by one of the project's installer scripts (`scripts/<name>`), which
/// installs its tool on first use.
pub fn tool(name: &str) -> PathBuf {
    let script = repo().join("scripts").join(name);
    PathBuf::from(run_ok(Command::new("bash").arg(script)).trim())
}

/// Python with DuckDB, openpyxl, reportlab… (scripts/python-tools.sh).
pub fn python_with_duckdb() -> PathBuf {
    tool("python-tools.sh")
}

/// Python with the engines analysts read the lake with: deltalake, Polars, DuckDB and its delta
/// extension, PySpark (scripts/ecosystem-tools.sh; it installs Java when it is missing).
pub fn python_with_ecosystem() -> PathBuf {
    tool("ecosystem-tools.sh")
}

impl Proj {
    /// Runs with extra environment variables.
    pub fn run_env(&self, env: &[(&str, String)], args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("--project")
            .arg(self.path())
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run opencoll")
    }

    /// Runs with extra environment variables; asserts success; returns stdout.
    pub fn ok_env(&self, env: &[(&str, String)], args: &[&str]) -> String {
        let out = self.run_env(env, args);
        assert!(
            out.status.success(),
            "opencoll {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on the port.
pub fn wait_port(port: u16) {
    for _ in 0..150 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("nothing listens on port {port}");
}

/// A child process killed when dropped (servers started by tests).
pub struct Server(pub std::process::Child);

/// Starts a server (its output discarded) and waits until it listens on `port`.
pub fn serve_on(cmd: &mut Command, port: u16) -> Server {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let server = Server(child);
    wait_port(port);
    server
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's S3 server on loopback (scripts/python-tools.sh) with an empty bucket `lake`.
pub struct S3 {
    _server: Server,
    pub endpoint: String,
}

impl S3 {
    pub fn start() -> S3 {
        let py = python_with_duckdb();
        let port = free_port();
        let server = Server(
            Command::new(py.parent().unwrap().join("moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_port(port);
        let s3 = S3 {
            _server: server,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        s3.python("s3.create_bucket(Bucket='lake')");
        s3
    }

    /// Runs Python code with `s3`, a boto3 client of this server.
    pub fn python(&self, code: &str) {
        run_ok(Command::new(python_with_duckdb()).arg("-c").arg(format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
             aws_access_key_id='test', aws_secret_access_key='test')\n{code}",
            self.endpoint
        )));
    }

    /// The AWS_* variables that reach this server, and the lake `s3://lake/opencoll`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("OPENCOLL_LAKE", "s3://lake/opencoll".to_string()),
        ]
    }
}

/// An HTTP answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A plain HTTP/1.1 request (no client library: the test sees exactly what is sent).
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 4 + size..];
    }
}

/// A folder for files that threads the test cannot join may still write after it ends
/// (Ballista's task threads outlive its runtime): `<cargo's temporary folder for this
/// target>/NAME-PID`, not /tmp. The folders of earlier runs whose process is gone are removed
/// first, so what a late write leaves is cleared by the next run instead of piling up.
pub fn late_writes_dir(name: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let prefix = format!("{name}-");
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = base.join(format!("{prefix}{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Files under `dir` (at any depth) whose name ends with `suffix` ("" for all).
pub fn count_files(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => count_files(&e.path(), suffix),
                    _ => usize::from(e.file_name().to_string_lossy().ends_with(suffix)),
                })
                .sum()
        })
        .unwrap_or(0)
}
