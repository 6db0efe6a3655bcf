//! `opencoll`: declarative pipelines for French local-government data into a Delta lake,
//! queried with SQL. This file parses arguments and prints; the work is in `crates/`.

mod arenas;
mod catalog_cmd;
mod complete;
mod errors;
mod events;
mod html_cmd;
mod infer_cmd;
mod output;
mod pdf_cmd;
mod publish_cmd;
mod schema_cmd;
mod shell;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use oc_engine::{Decision, Event, Observer, RefreshError, RefreshOptions, validate_project};
use oc_lake::Lake;
use oc_spec::Project;

use crate::output::Format;

#[derive(Parser)]
#[command(
    name = "opencoll",
    version,
    about = "Declarative pipelines for French local-government data into a Delta lake, queried with SQL"
)]
struct Cli {
    /// Project folder (default: the nearest folder above the current one with a catalog.yaml)
    #[arg(long, global = true)]
    project: Option<PathBuf>,
    /// Lake location (folder or URL); overrides catalog.yaml's `lake`
    #[arg(long, global = true, env = "OPENCOLL_LAKE")]
    lake: Option<String>,
    /// Where `sql`, `shell`, `test`, `catalog` and `serve` run their queries: `local` (this
    /// process) or `ballista://HOST:PORT` (a cluster started with `opencoll scheduler` and
    /// `opencoll executor`)
    #[arg(long, global = true, env = "OPENCOLL_ENGINE", default_value = "local")]
    engine: String,
    /// More logs (-v: info, -vv: debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// TLS on a server's listeners: both files or neither.
#[derive(clap::Args, Debug, Clone)]
struct TlsArgs {
    /// Serve over TLS only, with this certificate chain (PEM)
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM)
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn files(&self) -> Option<oc_serve::TlsFiles> {
        Some(oc_serve::TlsFiles {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check pipelines, catalog and views (keys, types, files, SQL) without running anything
    Validate,
    /// Run pipelines into the lake (all of them, or those named; `domain.*` selects a domain).
    /// A pipeline whose definition, sources and input tables are unchanged is skipped.
    Refresh {
        pipelines: Vec<String>,
        /// Run even the pipelines that are unchanged
        #[arg(long)]
        full: bool,
        /// Seconds to wait for another refresh of the same table to finish (default: fail at once)
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// One JSON object per event on standard output (for schedulers): decided, wave,
        /// started, progress, committed, failed, then summary
        #[arg(long)]
        json: bool,
    },
    /// Run the data tests (pipeline and catalog `checks:`) on what is in the lake, without refreshing
    Test { datasets: Vec<String> },
    /// Write a release for portals: the datasets with `publish: true` as Parquet + catalog.json
    Publish {
        /// Release name (default: the current UTC time); releases are immutable
        #[arg(long, conflicts_with = "rollback")]
        release: Option<String>,
        /// Point latest.json back to the release created before the one it names (nothing is
        /// deleted; each call goes one release further back)
        #[arg(long)]
        rollback: bool,
        /// One JSON object per event on standard output (started, progress, written,
        /// published or failed), for schedulers
        #[arg(long, conflicts_with = "rollback")]
        json: bool,
    },
    /// Bring a table back to an earlier version, as a new version (recorded in _ops.runs)
    Restore {
        /// The table, e.g. finances.balances_communes
        table: String,
        /// The version to bring back (`opencoll history`, or GET /datasets/{id} lists them)
        #[arg(
            long,
            required_unless_present = "timestamp",
            conflicts_with = "timestamp"
        )]
        version: Option<u64>,
        /// The newest version committed at or before this time (RFC 3339, e.g.
        /// 2026-12-01T04:00:00Z; a date alone is that day's end, 23:59:59 UTC)
        #[arg(long, value_parser = parse_time)]
        timestamp: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Remove the files no version within the retention needs (replaced by later refreshes,
    /// or written by runs that failed), table by table
    Vacuum {
        /// Keep the files versions of this age need: 7d, 24h, 30m (default 7d)
        #[arg(long, default_value = "7d", value_parser = parse_age)]
        retain: chrono::Duration,
        /// List what would be removed, remove nothing
        #[arg(long)]
        dry_run: bool,
        /// Tables (default: all)
        tables: Vec<String>,
    },
    /// Long-running service: the lake over Postgres (`--pg`) and HTTP (`--http`), read-only;
    /// `--schedule`: also run pipelines when their `schedule:` is due
    Serve {
        /// Postgres wire protocol address, e.g. 127.0.0.1:5433
        #[arg(long)]
        pg: Option<std::net::SocketAddr>,
        /// HTTP API address, e.g. 127.0.0.1:8080
        #[arg(long)]
        http: Option<std::net::SocketAddr>,
        /// No credentials asked (refused unless every listener is on loopback)
        #[arg(long)]
        no_auth: bool,
        /// File of `user NAME PASSWORD` and `token NAME SECRET` lines (also read:
        /// OPENCOLL_SERVE_USERS=user:password,… and OPENCOLL_SERVE_TOKENS=name:token,…)
        #[arg(long)]
        auth_file: Option<PathBuf>,
        #[command(flatten)]
        tls: TlsArgs,
        /// Time limit of one query, in seconds
        #[arg(long, default_value_t = 60)]
        query_timeout: u64,
        /// Memory one query may use, in MiB (DataFusion memory pool)
        #[arg(long, default_value_t = 512)]
        query_memory: usize,
        /// Rows of a JSON answer at most (CSV, Arrow and Parquet carry every row)
        #[arg(long, default_value_t = 10_000)]
        json_rows: usize,
        /// Postgres connections at once (0: no limit)
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
        /// Seconds between re-reads of the lake's tables (new refreshes); 0: never
        #[arg(long, default_value_t = 60)]
        reload: u64,
        #[arg(long)]
        schedule: bool,
        /// Also serve the public portal's pages on the HTTP listener (French, no credentials),
        /// following the project's latest release (`opencoll publish`)
        #[arg(long, requires = "http")]
        portal: bool,
        /// The portal's release, when not the project's: folder or URL holding latest.json
        #[arg(long, requires = "portal")]
        portal_release: Option<String>,
        /// The portal's public address, for the links of the DCAT feed (default http://HTTP)
        #[arg(long, requires = "portal")]
        public_url: Option<String>,
        /// Attempts after a transient failure, with exponential backoff
        #[arg(long, default_value_t = 3)]
        retries: u32,
        /// First backoff in seconds
        #[arg(long, default_value_t = 5)]
        backoff: u64,
    },
    /// Run a Ballista scheduler for `--engine ballista://HOST:PORT` (no project needed)
    Scheduler {
        /// Address to listen on (gRPC), e.g. 0.0.0.0:50050
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// Host name executors and clients reach this scheduler by (default: the bind address)
        #[arg(long)]
        external_host: Option<String>,
        /// Seconds after a job ends before its shuffle files are removed from the executors
        #[arg(long, default_value_t = oc_dist::process::SHUFFLE_TTL_SECONDS)]
        shuffle_ttl: u64,
    },
    /// Run a Ballista executor that takes tasks from a scheduler (no project needed). The
    /// lake must be a folder every executor sees, or S3 (read with this process's AWS_*)
    Executor {
        /// The scheduler's address, e.g. 10.0.0.5:50050
        #[arg(long)]
        scheduler: std::net::SocketAddr,
        /// Address of this executor's Flight service (shuffle data), e.g. 0.0.0.0:50051
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
        /// Host name other executors reach this one by (default: the bind address)
        #[arg(long)]
        external_host: Option<String>,
        /// Folder of its own for shuffle and spill files: the folders in it are removed at
        /// start and stop (default: ~/.cache/opencoll/executor-ADDRESS-PORT)
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Tasks run at once (default: the machine's cores)
        #[arg(long, default_value_t = 0)]
        concurrent_tasks: usize,
    },
    /// The public portal (French web pages) over a published release: search, fiches,
    /// strates, comparison, maps, catalogue and downloads
    Portal {
        /// Folder or URL (https://, s3://) holding the release's latest.json (default: the
        /// project's `published` folder)
        #[arg(long)]
        release: Option<String>,
        /// HTTP address, e.g. 127.0.0.1:8090
        #[arg(long, default_value = "127.0.0.1:8090")]
        http: std::net::SocketAddr,
        /// Seconds between reads of latest.json (a new release is picked up without restart)
        #[arg(long, default_value_t = PORTAL_POLL_SECS)]
        poll: u64,
        /// The portal's public address, for the links of the DCAT feed (default http://HTTP)
        #[arg(long)]
        public_url: Option<String>,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Show what `refresh` would run and why, without running anything
    Plan {
        pipelines: Vec<String>,
        #[arg(long)]
        full: bool,
        /// One JSON object per decision on standard output
        #[arg(long)]
        json: bool,
    },
    /// List past runs from _ops.runs, newest first
    History {
        pipeline: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Run one SQL query on the lake (read-only): the query as an argument (it may start with
    /// a `--` comment), `-` to read it from standard input, or `-f FILE`
    Sql {
        /// Result format (default: from --output's extension, else table)
        #[arg(long, value_enum)]
        format: Option<output::ResultFormat>,
        /// Write the result to this file instead of standard output (.csv, .tsv, .json,
        /// .ndjson, .md, .parquet, .arrow: the format follows the extension)
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Read the query from this file
        #[arg(short, long, conflicts_with = "query")]
        file: Option<PathBuf>,
        /// Print the query's elapsed time (planning and execution) on stderr, as psql's \timing
        #[arg(long)]
        timing: bool,
        #[arg(allow_hyphen_values = true, required_unless_present = "file")]
        query: Option<String>,
    },
    /// Interactive SQL shell (history, multi-line statements ending with `;`)
    Shell,
    /// List tables and views: row counts, last refresh, columns
    Catalog {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// PDF tools that need no project (tables of a PDF as CSV)
    Pdf {
        #[command(subcommand)]
        cmd: pdf_cmd::PdfCommand,
    },
    /// Write a first pipeline for a file to stdout (an export, JSON, a workbook, a web page or a
    /// PDF table): its layout and a type per column, read from the file
    Infer(infer_cmd::InferArgs),
    /// Print the JSON Schema of a pipeline file or of catalog.yaml (for editors)
    Schema {
        #[arg(value_enum)]
        which: schema_cmd::Which,
    },
    /// Web page tools that need no project (the tables of a page, its text)
    Html {
        #[command(subcommand)]
        cmd: html_cmd::HtmlCommand,
    },
    /// Read a Postgres user's password on standard input and print its SCRAM-SHA-256 keys
    /// (`scram-sha-256:…`), for `serve --auth-file` or OPENCOLL_SERVE_USERS without the
    /// password itself
    Password,
}

/// Runs a command that needs no project, lake or runtime; hands any other back.
fn standalone(cli: Cli) -> Result<Result<()>, Box<Cli>> {
    match cli.command {
        Command::Pdf { cmd } => Ok(pdf_cmd::run(cmd)),
        Command::Html { cmd } => Ok(html_cmd::run(cmd)),
        Command::Infer(args) => Ok(infer_cmd::run(args, cli.project.as_deref())),
        Command::Schema { which } => {
            schema_cmd::run(which);
            Ok(Ok(()))
        }
        Command::Password => Ok(password()),
        command => Err(Box::new(Cli { command, ..cli })),
    }
}

/// Prints panics as Rust does, except those that are caught on purpose and answered by an
/// error, where a backtrace before the error would only alarm the user:
/// - a file reader's panic (a damaged workbook, PDF or Parquet file), which the readers' guard
///   (oc-contain) turns into that file's error, with the panic's message and location;
/// - the one delta-rs provokes after a failed Parquet upload (a full disk): it calls
///   object_store's `BufWriter::abort`, which panics "Already shut down" once shutdown has
///   begun, and catches that panic (deltalake-core's `upload_parquet_file`); the run's own
///   error says what happened.
fn quiet_handled_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let caught_by_delta = info.location().is_some_and(|l| {
            l.file().contains("object_store") && l.file().ends_with("buffered.rs")
        }) && info.payload().downcast_ref::<&str>()
            == Some(&"Already shut down");
        if !caught_by_delta && !oc_contain::panic_is_contained(info.location()) {
            default(info);
        }
    }));
}

/// This program, to be started again as a reader process (oc_contain::process). On Linux the
/// running binary itself, even if a newer one replaced its file since it started.
fn own_executable() -> Option<PathBuf> {
    let proc_self = std::path::Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_self.exists() {
        return Some(proc_self.to_path_buf());
    }
    std::env::current_exe().ok()
}

/// A reader process dies with the process that started it (`parent`, its pid): a parent
/// killed would otherwise leave it running, for hours on the files that need a time limit.
/// The signal comes when the thread that started the reader ends, which waits for it.
#[cfg(target_os = "linux")]
fn die_with_parent(parent: Option<std::ffi::OsString>) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and no memory; getppid cannot fail.
    let adopted = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // The parent may have died before the prctl: this process was adopted then.
        parent
            .and_then(|p| p.to_str()?.parse::<libc::pid_t>().ok())
            .is_some_and(|p| p != libc::getppid())
    };
    if adopted {
        std::process::exit(2);
    }
}

fn main() -> ExitCode {
    // A reader process reads one file and answers; nothing else of the program runs in it.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == oc_contain::process::READER_ARG)
    {
        #[cfg(target_os = "linux")]
        die_with_parent(std::env::args_os().nth(2));
        quiet_handled_panics();
        return oc_contain::process::serve(&|job, request, payload| match job {
            oc_pdf::child::JOB => oc_pdf::child::answer(request, payload),
            oc_extract::WORKBOOK_JOB => oc_extract::answer_workbook(request),
            other => Err(format!("no job `{other}` in this reader")),
        });
    }
    // Every PDF is read, and every workbook opened first, in a reader process: a file that
    // crashes the parser, outlives its time limit or claims gigabytes cannot take this
    // process down or hold a core.
    if let Some(exe) = own_executable() {
        let args = vec![
            oc_contain::process::READER_ARG.into(),
            std::process::id().to_string().into(),
        ];
        oc_contain::process::use_reader_process(exe, args);
    }
    let cli = Cli::parse();
    quiet_handled_panics();
    // A command whose output is cut short (`opencoll catalog | head`) ends quietly, as any Unix
    // tool does, instead of panicking in println!. Servers keep Rust's default (SIGPIPE
    // ignored): a client hanging up must never stop them.
    let server = matches!(
        cli.command,
        Command::Serve { .. }
            | Command::Portal { .. }
            | Command::Scheduler { .. }
            | Command::Executor { .. }
    );
    #[cfg(unix)]
    if !server {
        // SAFETY: single-threaded at this point; restores the default disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // A process that runs for months must not keep growing: see arenas.rs.
    if server {
        arenas::limit_for_server();
    }
    // A local S3-compatible server speaks plain HTTP: let every S3 client (ours and Delta's,
    // which reads the environment) accept it. Done before any thread starts.
    if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| e.starts_with("http://"))
        && std::env::var_os("AWS_ALLOW_HTTP").is_none()
    {
        // SAFETY: single-threaded at this point (the runtime is built below).
        unsafe { std::env::set_var("AWS_ALLOW_HTTP", "true") };
    }
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                // A commit that lost to another writer is logged by delta-rs as an error
                // ("exceeded maximum commit attempts"); our writers retry it or say it in
                // their own error, so it is kept out of the default output (shown with -v). So are pdf_oxide's remarks on a PDF's
                // fonts, objects and streams, its "errors" included (a stream it could not
                // inflate): what matters to the user (a page without a usable text layer, a
                // damaged file) is an error of ours, naming the file and page, with what to do.
                match cli.verbose {
                    0 => format!("{level},deltalake_core::kernel::transaction=off,pdf_oxide=off")
                        .into(),
                    _ => level.into(),
                }
            }),
        )
        .with_writer(std::io::stderr)
        // colours for a terminal only, not in a log file or a pipe
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // `pdf`, `html`, `infer` and `schema` work on a file alone: no project, lake or runtime
    let cli = match standalone(cli) {
        Ok(result) => {
            return match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {}", errors::for_user(&e));
                    ExitCode::FAILURE
                }
            };
        }
        Err(cli) => *cli,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(stack_bytes())
        .build()
        .expect("tokio runtime");
    // The command runs on a thread of the same stack size as the runtime's workers: SQL is
    // parsed and planned by recursion wherever a command happens to do it.
    let main = std::thread::Builder::new()
        .name("opencoll".into())
        .stack_size(stack_bytes())
        .spawn(move || rt.block_on(dispatch(cli)))
        .expect("main thread");
    match main.join() {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {}", errors::for_user(&e));
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}

/// `opencoll password`: the first line of standard input (without its line break) → SCRAM keys.
fn password() -> Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password on standard input")?;
    let pw = line.trim_end_matches(['\n', '\r']);
    if pw.is_empty() {
        bail!("no password on standard input: echo it, or type it and press Enter");
    }
    let key = oc_serve::auth::ScramKey::derive(pw).map_err(anyhow::Error::msg)?;
    println!("{}", key.encode());
    Ok(())
}

/// Where the project's releases are (`published:` in catalog.yaml), for a portal.
fn project_release(project: &Project) -> String {
    oc_engine::publish::published_root(project)
        .display()
        .to_string()
}

/// How often a portal reads `latest.json` again, by default.
const PORTAL_POLL_SECS: u64 = 10;

async fn portal(
    release: String,
    http: std::net::SocketAddr,
    poll: u64,
    public_url: Option<String>,
    tls: Option<oc_serve::TlsFiles>,
) -> Result<ExitCode> {
    oc_portal::serve(oc_portal::PortalOptions {
        release,
        http,
        poll: std::time::Duration::from_secs(poll.max(1)),
        public_url,
        tls,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Stack of every thread that may parse, plan or run SQL. Planning recurses through
/// expressions: `oc_sql::shape` bounds their depth and this stack holds the deepest accepted
/// (measured in debug builds, whose frames are the largest; see docs/serving.md). Only the
/// pages a thread touches are committed.
const STACK_BYTES: usize = 64 * 1024 * 1024;

/// [`STACK_BYTES`], or `OPENCOLL_STACK_MIB` (to measure how much stack the deepest query
/// accepted needs, or to give more on a platform with larger frames).
fn stack_bytes() -> usize {
    std::env::var("OPENCOLL_STACK_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|m| *m >= 1)
        .map_or(STACK_BYTES, |m| m * 1024 * 1024)
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scheduler {
            bind,
            external_host,
            shuffle_ttl,
        } => {
            oc_dist::process::run_scheduler(bind, external_host, shuffle_ttl).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Executor {
            scheduler,
            bind,
            external_host,
            work_dir,
            concurrent_tasks,
        } => {
            oc_dist::process::run_executor(oc_dist::process::ExecutorOptions {
                scheduler,
                bind,
                external_host,
                work_dir,
                concurrent_tasks,
            })
            .await?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    // A portal reads a release, wherever it was copied: no project needed when it is given.
    if let Command::Portal {
        release: Some(release),
        http,
        poll,
        public_url,
        tls,
    } = &cli.command
    {
        return portal(
            release.clone(),
            *http,
            *poll,
            public_url.clone(),
            tls.files(),
        )
        .await;
    }
    let root = match &cli.project {
        Some(p) => p.clone(),
        None => {
            let cwd = std::env::current_dir()?;
            Project::discover(&cwd).with_context(|| {
                format!(
                    "no catalog.yaml in {} or above: run inside a project or pass --project DIR",
                    cwd.display()
                )
            })?
        }
    };
    let project = match Project::load(&root) {
        Ok(p) => p,
        Err(diags) => {
            eprintln!("{diags}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let lake_location = cli.lake.clone().unwrap_or_else(|| project.lake_location());
    let engine = Engine::parse(&cli.engine)?;
    let open_lake = || {
        Lake::open(&lake_location)
            .with_context(|| format!("cannot open the lake at {lake_location}"))
    };

    match cli.command {
        Command::Validate => {
            let diags = validate_project(&project).await;
            if diags.is_empty() {
                println!(
                    "ok: {} pipelines, {} views, catalog.yaml",
                    project.pipelines.len(),
                    project.views.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{diags}");
                eprintln!("{} error(s)", diags.len());
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Refresh {
            pipelines,
            full,
            wait,
            json,
        } => {
            let wait = std::time::Duration::from_secs(wait);
            refresh(&project, &open_lake()?, &pipelines, full, false, wait, json).await
        }
        Command::Test { datasets } => test(&project, &open_lake()?, &engine, &datasets).await,
        Command::Portal {
            release,
            http,
            poll,
            public_url,
            tls,
        } => {
            let release = release.unwrap_or_else(|| project_release(&project));
            portal(release, http, poll, public_url, tls.files()).await
        }
        Command::Serve {
            pg,
            http,
            no_auth,
            auth_file,
            tls,
            query_timeout,
            query_memory,
            json_rows,
            max_connections,
            reload,
            schedule,
            portal,
            portal_release,
            public_url,
            retries,
            backoff,
        } => {
            if !schedule && pg.is_none() && http.is_none() {
                bail!("nothing to serve: pass --pg ADDR and/or --http ADDR, and/or --schedule");
            }
            let mut opts = oc_serve::ServeOptions {
                pages: None,
                pg,
                http,
                no_auth,
                auth_file,
                tls: tls.files(),
                limits: oc_serve::Limits {
                    timeout: std::time::Duration::from_secs(query_timeout.max(1)),
                    memory: query_memory.max(1) * 1024 * 1024,
                    json_rows,
                },
                max_connections,
                reload,
            };
            // Credentials are checked before anything starts: a bad config stops here.
            let auth = if pg.is_some() || http.is_some() {
                oc_serve::load_auth(
                    &opts,
                    std::env::var(oc_serve::auth::ENV_TOKENS).ok().as_deref(),
                    std::env::var(oc_serve::auth::ENV_USERS).ok().as_deref(),
                )
                .map_err(anyhow::Error::from)?
            } else {
                None
            };
            // Then the portal's release, before anything listens: a missing one is said at once.
            if let (true, Some(addr)) = (portal, http) {
                let release = portal_release.unwrap_or_else(|| project_release(&project));
                let pages = oc_portal::pages(
                    &release,
                    std::time::Duration::from_secs(PORTAL_POLL_SECS),
                    public_url,
                    addr,
                    tls.files().is_some(),
                )
                .await
                .map_err(|e| match e {
                    oc_portal::StartError::Load(_) => anyhow::Error::from(e).context(format!(
                        "the portal cannot read the release at {release}: publish one first (opencoll publish) or give --portal-release"
                    )),
                    other => other.into(),
                })?;
                opts.pages = Some(pages);
            }
            if schedule {
                let diags = validate_project(&project).await;
                if !diags.is_empty() {
                    eprintln!("{diags}");
                    bail!(
                        "{} error(s) in the project: fix them first (opencoll validate)",
                        diags.len()
                    );
                }
            }
            let shutdown = futures::FutureExt::shared(futures::FutureExt::boxed(shutdown_signal()));
            let servers = async {
                if pg.is_none() && http.is_none() {
                    return Ok(());
                }
                let lake = open_lake()?;
                let opener = engine.opener(lake.clone(), &project);
                let state = oc_serve::open_state(project.clone(), lake, &opts, auth, opener)
                    .await
                    .map_err(anyhow::Error::from)?;
                oc_serve::run(state, &opts, shutdown.clone())
                    .await
                    .map_err(anyhow::Error::from)
            };
            let scheduler = async {
                if !schedule {
                    return Ok(());
                }
                let sopts = oc_engine::schedule::ScheduleOptions {
                    retries,
                    backoff: std::time::Duration::from_secs(backoff),
                };
                oc_engine::schedule::serve(&project, &open_lake()?, sopts, shutdown.clone())
                    .await
                    .map_err(anyhow::Error::from)
            };
            // The first failure (a port already taken, say) stops the service.
            tokio::try_join!(servers, scheduler)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish { rollback: true, .. } => {
            let (from, to) = oc_engine::publish::rollback(&project)?;
            println!("latest.json now points to release {to} (was {from})");
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore {
            table,
            version,
            timestamp,
        } => {
            use oc_engine::restore::{RestoreTarget, restore};
            let target = match (version, timestamp) {
                (Some(v), _) => RestoreTarget::Version(v),
                (None, Some(t)) => RestoreTarget::Timestamp(t),
                (None, None) => bail!("pass --version N or --timestamp T"),
            };
            let r = restore(&open_lake()?, &table, target).await?;
            println!(
                "{}: version {} restored as version {} (was {}), run {}{}",
                r.table,
                r.restored,
                r.version,
                r.from,
                r.run_id,
                r.copied_run
                    .map(|c| format!(" (a copy of run {c})"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Vacuum {
            retain,
            dry_run,
            tables,
        } => {
            let lake = open_lake()?;
            let names = if tables.is_empty() {
                lake.list_tables().await?
            } else {
                tables
            };
            let (verb, mut total) = (if dry_run { "would remove" } else { "removed" }, 0);
            for name in names {
                match lake.vacuum(&name, retain, dry_run).await? {
                    Some(v) => {
                        println!("{name}: {verb} {} file(s)", v.files.len());
                        for f in &v.files {
                            println!("        {f}");
                        }
                        total += v.files.len();
                    }
                    None => bail!("no table {name} in the lake"),
                }
            }
            println!("{verb} {total} file(s) in all");
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish { release, json, .. } => {
            let lake = open_lake()?;
            let session = oc_sql::LakeSession::open(&lake, &project.views).await?;
            warn_broken(&session);
            publish_cmd::run(&project, &lake, &session, release, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            pipelines,
            full,
            json,
        } => {
            refresh(
                &project,
                &open_lake()?,
                &pipelines,
                full,
                true,
                Default::default(),
                json,
            )
            .await
        }
        Command::History {
            pipeline,
            limit,
            format,
        } => {
            let lake = open_lake()?;
            let ctx = oc_sql::LakeTables::load(&lake, [oc_lake::ops::RUNS])
                .await?
                .context()?;
            let q = oc_sql::ops::history_sql(pipeline.as_deref(), limit);
            let df = ctx.sql_with_options(&q, oc_sql::read_only()).await?;
            let schema = df.schema().as_arrow().clone();
            let batches = df.collect().await?;
            output::print(&schema, &batches, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql {
            format,
            output: output_file,
            file,
            timing,
            query,
        } => {
            let format = match (format, &output_file) {
                (Some(f), _) => f,
                (None, Some(path)) => output::ResultFormat::from_path(path).with_context(|| {
                    format!(
                        "cannot tell the format from {}: add --format (csv, csv-fr, tsv, json, ndjson, markdown, parquet, arrow)",
                        path.display()
                    )
                })?,
                (None, None) => output::ResultFormat::Table,
            };
            if format.is_binary()
                && output_file.is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stdout())
            {
                bail!(
                    "{format:?} is binary: write it to a file with --output FILE, or redirect the output"
                );
            }
            let query = match (file, query.as_deref()) {
                (Some(f), _) => std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read the query from {}", f.display()))?,
                (None, Some("-")) => std::io::read_to_string(std::io::stdin())
                    .context("cannot read the query from standard input")?,
                (None, q) => q.unwrap_or_default().to_string(),
            };
            let session = engine.open(&open_lake()?, &project.views).await?;
            // Only what the query uses (all of them: `opencoll catalog`).
            for w in session.unavailable_in(&query) {
                eprintln!("warning: {w}");
            }
            let started = std::time::Instant::now();
            let df = session.query(&query).await?;
            let schema = df.schema().as_arrow().clone();
            let batches = df.collect().await.map_err(|e| engine.explain(e))?;
            let elapsed = started.elapsed();
            match &output_file {
                Some(path) => {
                    output::write_file(&schema, &batches, format, path)?;
                    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                    eprintln!("{rows} rows written to {}", path.display());
                }
                None => output::write(&schema, &batches, format, &mut std::io::stdout().lock())?,
            }
            if timing {
                eprintln!("Time: {:.3} ms", elapsed.as_secs_f64() * 1000.0);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Shell => {
            let session = engine.open(&open_lake()?, &project.views).await?;
            shell::run(&session, &root).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Catalog { format } => {
            let session = engine.open(&open_lake()?, &project.views).await?;
            catalog_cmd::run(&project, &session, format).await?;
            Ok(ExitCode::SUCCESS)
        }
        // run by `standalone` before a project is opened
        Command::Pdf { .. }
        | Command::Html { .. }
        | Command::Infer(_)
        | Command::Schema { .. }
        | Command::Password => {
            unreachable!("standalone commands return before the project is opened")
        }
        Command::Scheduler { .. } | Command::Executor { .. } => {
            unreachable!("cluster processes return before the project is opened")
        }
    }
}

/// Where queries run (`--engine`).
enum Engine {
    Local,
    /// A Ballista scheduler's gRPC URL.
    Ballista(String),
}

impl Engine {
    fn parse(engine: &str) -> Result<Engine> {
        if engine == "local" {
            return Ok(Engine::Local);
        }
        Ok(Engine::Ballista(oc_dist::scheduler_url(engine)?))
    }

    /// The lake's session: tables, views and functions, run here or on the cluster.
    async fn open(&self, lake: &Lake, views: &[oc_spec::ViewDef]) -> Result<oc_sql::LakeSession> {
        Ok(match self {
            Engine::Local => oc_sql::LakeSession::open(lake, views).await?,
            Engine::Ballista(url) => oc_dist::open_session(lake, views, url).await?,
        })
    }

    /// A query's error, with what to do when the cluster cannot be reached.
    fn explain(&self, e: datafusion::error::DataFusionError) -> anyhow::Error {
        let text = e.to_string();
        match self {
            Engine::Ballista(url) if text.contains("tcp connect error") => anyhow::anyhow!(
                "the Ballista scheduler at {url} cannot be reached: start it (`opencoll scheduler`) or fix --engine / OPENCOLL_ENGINE\n({text})"
            ),
            // Our scheduler fails the jobs running when an executor is lost (see
            // oc_dist::process): the query itself is fine.
            Engine::Ballista(_) if text.contains("failed: Cancelled") => anyhow::anyhow!(
                "the cluster stopped the query, most likely because an executor was lost while it ran (the scheduler's log says which): run it again\n({text})"
            ),
            _ => e.into(),
        }
    }

    /// How `serve` opens (and reopens, at each reload) the lake's session.
    fn opener(&self, lake: Lake, project: &Project) -> oc_serve::SessionOpener {
        match self {
            Engine::Local => oc_serve::local_sessions(lake, project),
            Engine::Ballista(url) => {
                let (url, views) = (url.clone(), project.views.clone());
                // The client never reads a file itself: the runtime's stores are not needed.
                Arc::new(move |_runtime| {
                    let (lake, views, url) = (lake.clone(), views.clone(), url.clone());
                    Box::pin(async move {
                        oc_dist::open_session(&lake, &views, &url)
                            .await
                            .map_err(|e| oc_sql::SqlError::Other(e.to_string()))
                    })
                })
            }
        }
    }
}

fn warn_broken(session: &oc_sql::LakeSession) {
    for (t, e) in &session.broken_tables {
        eprintln!(
            "warning: table {t} is unavailable: {}",
            e.lines().next().unwrap_or("")
        );
    }
    for (v, e) in &session.broken_views {
        eprintln!(
            "warning: view {} ({}) is unavailable: {}",
            v.name,
            v.path.display(),
            e.lines().next().unwrap_or("")
        );
    }
}

/// Prints a refresh's events: one line per decision and per run. On a terminal, a bar per
/// running pipeline: the bytes of its source files read, with the speed and the time left, and
/// its rows (a spinner with rows when the sources are no files); elsewhere a line when each
/// starts.
struct Printer {
    plan_only: bool,
    tty: bool,
    bars: indicatif::MultiProgress,
    running: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl Printer {
    fn new(plan_only: bool, tty: bool) -> Printer {
        Printer {
            plan_only,
            tty,
            bars: indicatif::MultiProgress::new(),
            running: Default::default(),
        }
    }

    /// Prints above the bars (they are redrawn after).
    fn say(&self, f: impl FnOnce()) {
        if self.tty { self.bars.suspend(f) } else { f() }
    }
}

pub(crate) fn style(template: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(template)
        .expect("template")
        .progress_chars("=> ")
}

impl Observer for Printer {
    fn on(&self, event: Event<'_>) {
        match event {
            Event::Decided { pipeline, decision } => match decision {
                Decision::Skip { reason } => self.say(|| println!("skip    {pipeline}: {reason}")),
                Decision::Run { reason, .. } if self.plan_only => {
                    self.say(|| println!("run     {pipeline}: {reason}"))
                }
                Decision::Run { .. } => {}
            },
            Event::Started { pipeline } if self.tty => {
                let b = self.bars.add(indicatif::ProgressBar::new_spinner());
                b.set_style(style("{spinner} {msg} {pos} rows ({per_sec})"));
                b.set_message(pipeline.to_string());
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                self.running
                    .lock()
                    .expect("not poisoned")
                    .insert(pipeline.to_string(), b);
            }
            Event::Started { pipeline } => eprintln!("refreshing {pipeline}…"),
            Event::Progress { pipeline, read } => {
                let running = self.running.lock().expect("not poisoned");
                let Some(b) = running.get(pipeline) else {
                    return;
                };
                match read.total_bytes.filter(|t| *t > 0) {
                    Some(total) => {
                        if b.length() != Some(total) {
                            b.set_length(total);
                            b.set_style(style(
                                "{msg} [{bar:24}] {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
                            ));
                        }
                        b.set_message(format!("{pipeline} {} rows", read.rows));
                        b.set_position(read.bytes.min(total));
                    }
                    None => b.set_position(read.rows),
                }
            }
            Event::Finished { report } => {
                if let Some(b) = self
                    .running
                    .lock()
                    .expect("not poisoned")
                    .remove(&report.pipeline)
                {
                    b.finish_and_clear();
                    self.bars.remove(&b);
                }
                self.say(|| print_report(&report.pipeline, report));
            }
            Event::Missing { dataset } => {
                self.say(|| println!("fail    {dataset}: not in the lake (refresh it first)"))
            }
            Event::Checked { result } => self.say(|| {
                println!(
                    "{:<7} {}",
                    result.status.as_str(),
                    result.summary().split_once(' ').map(|x| x.1).unwrap_or("")
                )
            }),
            _ => {}
        }
    }
}

async fn refresh(
    project: &Project,
    lake: &Lake,
    selected: &[String],
    full: bool,
    plan_only: bool,
    lock_wait: std::time::Duration,
    json: bool,
) -> Result<ExitCode> {
    let opts = RefreshOptions {
        full,
        plan_only,
        lock_wait,
        ..Default::default()
    };
    let observer: Arc<dyn Observer> = if json {
        Arc::new(events::JsonLines)
    } else {
        Arc::new(Printer::new(plan_only, std::io::stderr().is_terminal()))
    };
    let result = oc_engine::refresh(project, lake, selected, &opts, observer).await;
    let summary = match result {
        Err(RefreshError::Invalid { diagnostics, .. }) if !diagnostics.is_empty() => {
            eprintln!("{diagnostics}");
            bail!(
                "{} error(s) in the project: fix them first (opencoll validate)",
                diagnostics.len()
            );
        }
        r => r?,
    };
    let failures = summary.failures();
    if json {
        events::summary(&summary);
    }
    if failures > 0 {
        eprintln!("{failures} pipeline(s) failed; the lake keeps their previous versions");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `opencoll test`: every check declared on the selected datasets, on the lake as it is.
async fn test(
    project: &Project,
    lake: &Lake,
    engine: &Engine,
    selected: &[String],
) -> Result<ExitCode> {
    let session = engine.open(lake, &project.views).await?;
    warn_broken(&session);
    let printer = Printer::new(false, false);
    let s = oc_engine::data_tests::test(project, lake, &session, selected, &printer).await?;
    if s.datasets == 0 {
        println!(
            "no checks declared{}",
            if selected.is_empty() {
                ""
            } else {
                " on these datasets"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} checks: {} passed, {} warned, {} failed",
        s.total(),
        s.passed,
        s.warned,
        s.failed
    );
    Ok(if s.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A time in RFC 3339, or a date alone: the state the table was in at the end of that day.
fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!(
                "`{s}`: write a time as 2026-12-01T04:00:00Z (RFC 3339) or a date as 2026-12-01"
            )
        })
}

/// An age such as `7d`, `24h`, `30m` or `45s`.
fn parse_age(s: &str) -> Result<chrono::Duration, String> {
    let (n, unit) = s.split_at(s.trim_end_matches(char::is_alphabetic).len());
    let n: i64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: write a number and a unit, e.g. 7d, 24h, 30m"))?;
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "s" => Ok(chrono::Duration::seconds(n)),
        _ => Err(format!("`{s}`: the unit is d, h, m or s")),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn print_report(name: &str, r: &oc_engine::RunReport) {
    let counts = format!(
        "{} read, {} written, {} rejected{}",
        r.rows_read,
        r.rows_written,
        r.rows_rejected,
        if r.rows_filtered > 0 {
            format!(", {} filtered by the transform", r.rows_filtered)
        } else {
            String::new()
        }
    );
    if r.ok {
        println!(
            "ok      {name}: {counts} → version {} ({:.1} s)",
            r.table_version.map(|v| v.to_string()).unwrap_or_default(),
            r.seconds
        );
    } else {
        println!("FAILED  {name}: {counts}");
        println!(
            "        {}",
            r.error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "unknown error".into())
        );
    }
    let passed = r
        .checks
        .iter()
        .filter(|c| c.status == oc_engine::checks::Status::Pass)
        .count();
    if !r.checks.is_empty() {
        println!("        checks: {passed}/{} passed", r.checks.len());
    }
    for c in r
        .checks
        .iter()
        .filter(|c| c.status == oc_engine::checks::Status::Warn)
    {
        println!("        {}", c.summary());
    }
    for (file, why) in r.sources_failed.iter().take(5) {
        println!("        left out {file}: {why}");
    }
    if r.sources_failed.len() > 5 {
        println!(
            "        … {} sources left out in all (in _ops.rejects, line 0)",
            r.sources_failed.len()
        );
    }
    for rj in &r.rejects_sample {
        println!(
            "        rejected {}:{}{}: {}{}",
            rj.file,
            rj.line,
            rj.column
                .as_deref()
                .map(|c| format!(" column {c}"))
                .unwrap_or_default(),
            rj.value
                .as_deref()
                .map(|v| format!("{v:?}: "))
                .unwrap_or_default(),
            rj.reason
        );
    }
    if r.rows_rejected > r.rejects_sample.len() as u64 {
        println!(
            "        … all {} rejects: opencoll sql \"SELECT * FROM _ops.rejects WHERE run_id = '{}'\"",
            r.rows_rejected, r.run_id
        );
    }
}
