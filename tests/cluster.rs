//! The lake and its views on Ballista: an in-process scheduler with two executors whose
//! function registries know only DataFusion's built-ins (our functions reach them through the
//! codec), then separate `opencoll scheduler` / `opencoll executor` processes reading a lake
//! on a local S3 server (moto, from scripts/python-tools.sh).

mod common;

use std::process::{Command, Stdio};

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use common::{Proj, Server, free_port, wait_port};
use datafusion::physical_plan::displayable;
use futures::StreamExt;

/// Every row as text, sorted: the same multiset of rows whatever order a plan produced.
fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("∅");
    let mut rows = Vec::new();
    for b in batches {
        let cols: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            rows.push(
                cols.iter()
                    .map(|c| c.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    rows.sort();
    rows
}

/// Whether a plan runs on the cluster: planned by the scheduler (Ballista's usual path) or
/// planned here and submitted (plans whose logical form cannot travel).
fn on_cluster(plan: &str) -> bool {
    plan.starts_with("DistributedQueryExec") || plan.starts_with("ClusterExec")
}

/// Runs `f` on a runtime whose threads have the stack `opencoll` gives SQL planning.
fn on_big_stack(f: impl Future<Output = ()> + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .thread_stack_size(64 << 20)
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn every_view_gives_the_same_rows_on_a_two_executor_cluster() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    let root = p.path().to_path_buf();
    // The executors' shuffle files go to a folder this test owns. It is removed after the
    // runtime the executors run on has stopped: the jobs cancelled below may still be
    // writing until then, and would otherwise recreate what a removal had just deleted. A
    // task thread can still write later (rarely: 28 KB in /tmp once), so the folder is not in
    // /tmp but where the next run clears it.
    let work_dir = common::late_writes_dir("cluster-executors");
    let executors_dir = work_dir.clone();
    on_big_stack(async move {
        let project = oc_spec::Project::load(&root).unwrap();
        let lake = oc_lake::Lake::open(root.join("data/lake").to_str().unwrap()).unwrap();
        let local = oc_sql::LakeSession::open(&lake, &project.views)
            .await
            .unwrap();
        let scheduler = oc_dist::process::start_in_process(2, 2, &executors_dir)
            .await
            .unwrap();
        let remote = oc_dist::open_session(&lake, &project.views, &format!("http://{scheduler}"))
            .await
            .unwrap();
        assert!(
            remote.broken_tables.is_empty(),
            "{:?}",
            remote.broken_tables
        );
        assert!(
            remote.broken_views.is_empty(),
            "{:?}",
            remote
                .broken_views
                .iter()
                .map(|(v, e)| (&v.name, e))
                .collect::<Vec<_>>()
        );
        assert_eq!(remote.tables, local.tables);
        assert_eq!(remote.views, local.views);
        assert!(local.views.len() >= 9, "{:?}", local.views);
        // Shuffle data goes through the executors' Flight services, as between machines.
        remote
            .ctx
            .sql("SET ballista.shuffle.force_remote_read = true")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();

        let run = |session: &oc_sql::LakeSession, sql: String| {
            let ctx = session.ctx.clone();
            async move {
                let df = ctx.sql(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
                let plan = df.clone().create_physical_plan().await.unwrap();
                let shown = displayable(plan.as_ref()).one_line().to_string();
                let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
                (shown, sorted_rows(&batches))
            }
        };
        let mut compared = 0;
        let (mut scheduler_planned, mut client_planned) = (0, 0);
        for name in local.views.iter().chain(&local.tables) {
            let sql = format!("SELECT * FROM {name}");
            let (_, here) = run(&local, sql.clone()).await;
            let (plan, there) = run(&remote, sql.clone()).await;
            assert!(on_cluster(&plan), "{name} ran locally: {plan}");
            scheduler_planned += usize::from(plan.starts_with("DistributedQueryExec"));
            client_planned += usize::from(plan.starts_with("ClusterExec"));
            assert_eq!(here.len(), there.len(), "{name}: row counts differ");
            assert!(here == there, "{name}: rows differ");
            compared += here.len();
        }
        assert!(compared > 10_000, "only {compared} rows compared");
        // Both ways of sending a plan are used: the logical one (most plans) and the physical
        // one (the views whose `unnest` datafusion-proto cannot carry).
        assert!(
            scheduler_planned > 5 && client_planned > 0,
            "{scheduler_planned} {client_planned}"
        );

        // A shuffle (a grouped aggregate over many partitions) and our functions on executors
        // that do not know them.
        let sql = "SELECT code_insee, insee_from_dgfip(substr(code_insee, 1, 2), \
                   substr(code_insee, 3)) AS again, count(*) AS n, sum(charges) AS charges \
                   FROM finances.charges_produits_communes GROUP BY 1, 2 ORDER BY 1"
            .to_string();
        let (_, here) = run(&local, sql.clone()).await;
        let (plan, there) = run(&remote, sql.clone()).await;
        assert!(on_cluster(&plan), "{plan}");
        assert!(here.len() > 100 && here == there, "{here:?}\n{there:?}");
        // The code rebuilt by our function on the executors is the code itself.
        assert!(there.iter().all(|r| {
            let f: Vec<&str> = r.split('|').collect();
            f[0] == f[1]
        }));
        // That shuffle was written in the executors' folders, which the test removes (the
        // last job ended a moment ago: its files are still there).
        assert!(
            common::count_files(&executors_dir, "") > 0,
            "no shuffle file in the executors' work dirs"
        );

        // A job nobody reads any more (a client gone, a time limit) is cancelled, whether the
        // scheduler planned it or this client did.
        let url = format!("http://{scheduler}");
        let slow_join = "finances.balances_communes a \
                         JOIN finances.balances_communes b ON a.compte < b.compte";
        let plan = plan_of(&remote, &format!("SELECT count(*) FROM {slow_join}")).await;
        let guard = plan
            .downcast_ref::<oc_dist::cancel::CancelOnDrop>()
            .expect("a plan the scheduler plans");
        assert_cancelled_when_dropped(&remote, &plan, &url, || guard.job_id()).await;
        // The view's plan has an `unnest` datafusion-proto cannot carry.
        let sql = format!(
            "SELECT (SELECT max(ecart) FROM publications.comparaison_ofgl), count(*) \
             FROM {slow_join}"
        );
        let plan = plan_of(&remote, &sql).await;
        let submitted = plan
            .downcast_ref::<oc_dist::submit::ClusterExec>()
            .expect("a plan this client plans");
        assert_cancelled_when_dropped(&remote, &plan, &url, || submitted.job_id()).await;

        // The catalog stays with the client: no cluster round trip, and no error.
        let (plan, tables) = run(
            &remote,
            "SELECT table_schema, table_name FROM information_schema.tables \
             WHERE table_schema = 'finances'"
                .into(),
        )
        .await;
        assert!(!plan.contains("Distributed"), "{plan}");
        assert!(
            tables
                .iter()
                .any(|t| t == "finances|charges_produits_communes")
        );
        let (plan, _) = run(&remote, "SELECT 1".into()).await;
        assert!(!plan.contains("Distributed"), "{plan}");
    });
    // Ballista runs tasks on threads of its own, which outlive the runtime: a task of a
    // cancelled job may still start and create its (empty) folders. Remove the work folder
    // until nothing has come back for half a second (at most 10 s).
    let mut quiet = 0;
    for _ in 0..100 {
        if work_dir.exists() {
            let _ = std::fs::remove_dir_all(&work_dir);
            quiet = 0;
        } else if quiet == 5 {
            break;
        } else {
            quiet += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

async fn plan_of(
    session: &oc_sql::LakeSession,
    sql: &str,
) -> std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan> {
    let df = session.ctx.sql(sql).await.unwrap();
    df.create_physical_plan().await.unwrap()
}

/// Runs `plan` until the scheduler has its job (a slow one: it must still be running, or
/// queued while the scheduler plans it, which Ballista's own cancellation misses), drops its
/// stream, and waits for the scheduler to say the job was cancelled.
async fn assert_cancelled_when_dropped(
    session: &oc_sql::LakeSession,
    plan: &std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    url: &str,
    job_id: impl Fn() -> Option<String>,
) {
    let mut stream =
        datafusion::physical_plan::execute_stream(plan.clone(), session.ctx.task_ctx()).unwrap();
    let job = loop {
        let polled =
            tokio::time::timeout(std::time::Duration::from_millis(20), stream.next()).await;
        assert!(
            polled.is_err(),
            "the slow query ended before it was seen running"
        );
        if let Some(job) = job_id() {
            break job;
        }
    };
    let state = oc_dist::cancel::job_state(url, &job).await.unwrap();
    assert!(state == "running" || state == "queued", "{state}");
    drop(stream);
    let mut state = String::new();
    for _ in 0..100 {
        state = oc_dist::cancel::job_state(url, &job).await.unwrap();
        if state == "failed: Cancelled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "failed: Cancelled", "job {job}");
}

fn start(args: &[&str], env: &[(&str, String)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opencoll"));
    cmd.args(args)
        .env_remove("OPENCOLL_ENGINE")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server(cmd.spawn().unwrap())
}

#[test]
fn scheduler_and_executor_processes_read_a_lake_on_s3() {
    let s3 = common::S3::start();
    let env = s3.env();
    let p = Proj::samples();
    p.ok_env(&env, &["refresh", "ref.*", "finances.balances_communes"]);

    let sched = free_port();
    let scheduler = start(
        &[
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{sched}"),
            "--shuffle-ttl",
            "1",
        ],
        &[],
    );
    wait_port(sched);
    // One task at a time each, so that both take part in a two-partition job; the first one
    // logs the tasks it receives (-v), to be killed in the middle of one.
    let mut executors = Vec::new();
    let tasks_log = tempfile::NamedTempFile::new().unwrap();
    for i in 0..2 {
        let port = free_port();
        let work = tempfile::tempdir().unwrap();
        let (scheduler_addr, bind) = (format!("127.0.0.1:{sched}"), format!("127.0.0.1:{port}"));
        let args = [
            "-v",
            "executor",
            "--scheduler",
            &scheduler_addr,
            "--bind",
            &bind,
            "--work-dir",
            work.path().to_str().unwrap(),
            "--concurrent-tasks",
            "1",
        ];
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_opencoll"));
        cmd.args(if i == 0 { &args[..] } else { &args[1..] })
            .env_remove("OPENCOLL_ENGINE")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(if i == 0 {
                Stdio::from(tasks_log.reopen().unwrap())
            } else {
                Stdio::null()
            });
        executors.push((Server(cmd.spawn().unwrap()), work));
        wait_port(port);
    }
    let tasks_received = || {
        std::fs::read_to_string(tasks_log.path())
            .unwrap_or_default()
            .matches("Received task")
            .count()
    };
    let mut cluster_env = env.clone();
    cluster_env.push(("OPENCOLL_ENGINE", format!("ballista://127.0.0.1:{sched}")));
    // Our function on executors started from the same binary, a shuffle, exact sums.
    for query in [
        "SELECT insee_from_dgfip(ndept, insee_rang) AS code, count(*) AS n, \
         sum(obnetdeb) AS debit FROM finances.balances_communes GROUP BY 1 ORDER BY 1",
        "SELECT * FROM finances.charges_produits_communes ORDER BY exercice, code_insee",
    ] {
        let local = p.ok_env(&env, &["sql", "--format", "csv", query]);
        let remote = p.ok_env(&cluster_env, &["sql", "--format", "csv", query]);
        assert!(local.lines().count() > 100, "{local}");
        assert_eq!(local, remote, "{query}");
    }
    // The shuffle files of those jobs are removed once they are finished (--shuffle-ttl 1).
    // (Each work folder also holds its executor's lock file, which stays.)
    let shuffle_files = || {
        executors
            .iter()
            .map(|(_, work)| {
                let lock = work.path().join(".opencoll-executor.lock");
                common::count_files(work.path(), "") - usize::from(lock.is_file())
            })
            .sum::<usize>()
    };
    // (the last job ended a moment ago: its files are still there)
    assert!(
        shuffle_files() > 0,
        "no shuffle file in the executors' work dirs"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while shuffle_files() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} shuffle files left 30 s after the jobs",
            shuffle_files()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let query = "SELECT insee_from_dgfip(ndept, insee_rang) AS code, count(*) AS n, \
                 sum(obnetdeb) AS debit FROM finances.balances_communes GROUP BY 1 ORDER BY 1";
    let expected = p.ok_env(&env, &["sql", "--format", "csv", query]);
    // An executor killed while a query runs: the query fails with a message that says what
    // to do (never a wrong figure), and the cluster keeps serving with the other executor.
    let before = tasks_received();
    let slow = std::thread::spawn({
        let (env, root) = (cluster_env.clone(), p.path().to_path_buf());
        move || {
            Command::new(env!("CARGO_BIN_EXE_opencoll"))
                .arg("--project")
                .arg(root)
                .args([
                    "sql",
                    "SELECT a.exercice, count(*) FROM finances.balances_communes a \
                     JOIN finances.balances_communes b ON a.compte < b.compte GROUP BY 1",
                ])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .output()
                .unwrap()
        }
    });
    // Killed once it has a task of that query.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while tasks_received() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the executor never got a task"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (mut first, _work) = executors.remove(0);
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let out = slow.join().unwrap();
    assert!(!out.status.success(), "{}", common::stdout(&out));
    assert!(
        common::stderr(&out).contains("an executor was lost while it ran")
            && common::stderr(&out).contains("run it again"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(
        p.ok_env(&cluster_env, &["sql", "--format", "csv", query]),
        expected
    );
    // A restarted scheduler: the executor finds it again (its polls carry its registration).
    drop(scheduler);
    let _scheduler = start(&["scheduler", "--bind", &format!("127.0.0.1:{sched}")], &[]);
    wait_port(sched);
    assert_eq!(
        p.ok_env(&cluster_env, &["sql", "--format", "csv", query]),
        expected
    );
    // `serve` on the cluster: the HTTP API, and psql (its `\d` reads pg_catalog, which stays
    // in the serving process; its lake query runs on the cluster).
    let (http, pg) = (free_port(), free_port());
    let (http_addr, pg_addr) = (format!("127.0.0.1:{http}"), format!("127.0.0.1:{pg}"));
    let serve_args = [
        "--project",
        p.path().to_str().unwrap(),
        "serve",
        "--no-auth",
        "--http",
        &http_addr,
        "--pg",
        &pg_addr,
    ];
    let _serve = start(&serve_args, &cluster_env);
    wait_port(http);
    wait_port(pg);
    let psql = |command: &str| {
        let out = Command::new(common::tool("psql.sh"))
            .args(["-X", "-w", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &pg.to_string(),
                "-U",
                "analyste",
                "-d",
                "lake",
                "-c",
                command,
            ])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {command}: {}",
            common::stderr(&out)
        );
        common::stdout(&out)
    };
    let listed = psql("\\d");
    assert!(listed.contains("balances_communes"), "{listed}");
    let counted = psql("SELECT count(*) FROM finances.balances_communes");
    assert!(counted.contains("19500"), "{counted}");
    let answer = common::http(
        http,
        "POST",
        "/sql",
        &[("Accept", "text/csv"), ("Content-Type", "text/plain")],
        query.as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = answer.text();
    for row in [
        expected.lines().nth(1).unwrap(),
        expected.lines().last().unwrap(),
    ] {
        assert!(answer.contains(row), "{row} missing from:\n{answer}");
    }
    // The data tests too.
    let out = p.ok_env(&cluster_env, &["test", "ref.communes"]);
    assert!(out.contains("passed"), "{out}");
    // A scheduler that is not there is said plainly (and proves the queries above did not
    // quietly run here).
    let gone = free_port();
    let out = p.run_env(
        &env,
        &[
            "--engine",
            &format!("ballista://127.0.0.1:{gone}"),
            "sql",
            "SELECT count(*) FROM ref.communes",
        ],
    );
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("cannot be reached: start it (`opencoll scheduler`)"),
        "{}",
        common::stderr(&out)
    );
    // A bad engine address too.
    let out = p.run(&["--engine", "ballista://nowhere", "sql", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("ballista://HOST:PORT"),
        "{}",
        common::stderr(&out)
    );
}

/// An executor killed with SIGKILL cannot remove its shuffle files; the next executor on its
/// work folder does, and an executor pointed at a running one's folder is refused (it would
/// otherwise remove files that one still serves).
#[test]
fn an_executor_removes_what_a_killed_one_left_and_refuses_a_running_ones_folder() {
    let work = tempfile::tempdir().unwrap();
    let leftover = work.path().join("job-killed/1/0");
    let folder = work.path().to_str().unwrap().to_string();
    // No scheduler: an executor claims its folder, then waits for one.
    let executor = |port: u16| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_opencoll"));
        cmd.args([
            "executor",
            "--scheduler",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--work-dir",
            &folder,
        ])
        .env_remove("OPENCOLL_ENGINE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        cmd
    };
    let within_20s = |done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !done() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        true
    };
    let lock = work.path().join(".opencoll-executor.lock");
    let mut running = Server(executor(free_port()).spawn().unwrap());
    assert!(within_20s(
        &|| std::fs::read_to_string(&lock).is_ok_and(|pid| !pid.is_empty())
    ));
    for round in 0..2 {
        // killed with SIGKILL: what it was writing stays
        running.0.kill().unwrap();
        running.0.wait().unwrap();
        std::fs::create_dir_all(&leftover).unwrap();
        std::fs::write(leftover.join("data.arrow"), b"shuffle").unwrap();
        running = Server(executor(free_port()).spawn().unwrap());
        assert!(
            within_20s(&|| !leftover.exists()),
            "round {round}: left over"
        );
        // a second executor on that folder: refused at once, the first one's files untouched
        std::fs::create_dir_all(&leftover).unwrap();
        let out = executor(free_port())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = common::stderr(&out);
        assert!(
            err.contains("used by another running executor")
                && err.contains(&format!("(process {})", running.0.id()))
                && err.contains("--work-dir"),
            "{err}"
        );
        assert!(leftover.is_dir());
        std::fs::remove_dir_all(&leftover).unwrap();
    }
    drop(running);
    assert!(work.path().is_dir(), "a folder given with --work-dir stays");
}
