//! The portal (`opencoll portal`) over a release of the samples: pages, figures equal to SQL,
//! downloads, bad input, releases switched and broken while it runs, and the pages in a real
//! headless Chromium with axe-core (scripts/browser.sh installs both).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Proj, Server};

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// HTTP/1.0 GET: the body ends when the server closes (no chunked encoding to undo).
fn get(port: u16, path: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers[9..12].parse().unwrap();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// `1566738.72` as the pages print it: `1 566 738,72` (narrow no-break spaces).
fn french(plain: &str) -> String {
    let (sign, digits) = plain.strip_prefix('-').map_or(("", plain), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push('\u{202f}');
        }
        grouped.push(ch);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped},{frac}")
    }
}

struct Portal {
    _server: Server,
    port: u16,
}

fn start(release_root: &Path) -> Portal {
    let port = common::free_port();
    let server = common::serve_on(
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .args(["portal", "--release"])
            .arg(release_root)
            .args(["--http", &format!("127.0.0.1:{port}"), "--poll", "1"]),
        port,
    );
    Portal {
        _server: server,
        port,
    }
}

/// `opencoll portal --tls-cert --tls-key`: the fiche over HTTPS, for a client that trusts the
/// test authority (Python's ssl), and nothing in clear on the same port.
fn https_portal_serves_the_same_release(release_root: &Path) {
    let tls = common::repo().join("tests/fixtures/tls");
    let port = common::free_port();
    let _server = common::serve_on(
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .args(["portal", "--release"])
            .arg(release_root)
            .args(["--http", &format!("127.0.0.1:{port}")])
            .arg("--tls-cert")
            .arg(tls.join("server.crt"))
            .arg("--tls-key")
            .arg(tls.join("server.key")),
        port,
    );
    let page = common::run_ok(
        Command::new(common::python_with_duckdb())
            .arg("-c")
            .arg(format!(
                "import ssl, urllib.request as u\n\
                 c = ssl.create_default_context(cafile={ca:?})\n\
                 print(u.urlopen('https://localhost:{port}/commune/2A004', context=c).read().decode())",
                ca = tls.join("ca.crt").display().to_string(),
            ))
            .stdin(Stdio::null()),
    );
    assert!(
        page.contains("Ajaccio") && page.contains("lang=\"fr\""),
        "{page}"
    );
    let mut raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    raw.write_all(b"GET /sante HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP"));
}

fn release_of(port: u16) -> String {
    let v: serde_json::Value = serde_json::from_slice(&get(port, "/sante").body).unwrap();
    v["release"].as_str().unwrap().to_string()
}

fn wait_release(port: u16, name: &str) {
    let t = Instant::now();
    while release_of(port) != name {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "release {name} never served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn published(p: &Proj) -> std::path::PathBuf {
    p.path().join("data/published")
}

#[test]
fn portal_pages_show_the_release_figures_and_survive_bad_input_and_broken_releases() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    p.ok(&["publish", "--release", "r1"]);
    let portal = start(&published(&p));
    let port = portal.port;
    assert_eq!(release_of(port), "r1");
    https_portal_serves_the_same_release(&published(&p));

    // Search: accents, hyphens and case ignored; both Saint-Denis of more than 100,000 people.
    let page = get(port, "/recherche?q=SAINT%20denis").text();
    for code in ["93066", "97411"] {
        assert!(
            page.contains(&format!("href=\"/commune/{code}\"")),
            "{code} in {page}"
        );
    }
    let sugg: serde_json::Value =
        serde_json::from_slice(&get(port, "/api/suggestions?q=st-denis").body).unwrap();
    let codes: Vec<&str> = sugg
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"93066") && codes.contains(&"97411"),
        "{codes:?}"
    );
    // By SIREN, by postal code.
    assert!(
        get(port, "/recherche?q=212000046")
            .text()
            .contains("href=\"/commune/2A004\"")
    );
    assert!(
        get(port, "/recherche?q=20090")
            .text()
            .contains("href=\"/commune/2A004\"")
    );

    // A commune's fiche: figures equal to SQL on what was published.
    let row = p.value(
        "SELECT epargne_brute, encours_dette, epargne_brute_par_habitant FROM finances.fiche WHERE niveau = 'COM' AND code = '2A004' AND exercice = 2024",
    );
    let f: Vec<&str> = row.split(',').collect();
    let fiche = get(port, "/commune/2A004");
    assert_eq!(fiche.status, 200);
    let html = fiche.text();
    for v in &f {
        assert!(
            html.contains(&french(v)),
            "{v} ({}) missing from the fiche",
            french(v)
        );
    }
    assert!(
        html.contains("href=\"/groupement/242010056\""),
        "EPCI of Ajaccio"
    );
    assert!(
        html.contains("Collectivité de Corse") || html.contains("Corse"),
        "région"
    );
    assert!(html.contains("<svg class=\"chart\""), "evolution chart");
    assert!(fiche.headers.contains("content-security-policy"));

    // The CSV for Excel of the same table: BOM, semicolons, decimal commas, the same figures.
    let csv = get(port, "/commune/2A004?format=csv-fr").body;
    assert!(csv.starts_with("\u{feff}".as_bytes()));
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(&headers[0], "indicateur");
    let eb = rdr
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[0] == "Épargne brute")
        .unwrap();
    assert_eq!(&eb[1], f[0].replace('.', ","));
    assert_eq!(&eb[2], f[2].replace('.', ","));
    // Every other format of the evolution table, same rows as SQL.
    let n = p.value("SELECT count(*) FROM finances.fiche WHERE niveau = 'COM' AND code = '2A004'");
    let json: serde_json::Value = serde_json::from_slice(
        &get(
            port,
            "/commune/2A004?format=json&table=commune-2A004-evolution",
        )
        .body,
    )
    .unwrap();
    assert_eq!(json.as_array().unwrap().len().to_string(), n);
    let eb_2024 = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["exercice"] == "2024")
        .unwrap();
    assert_eq!(eb_2024["epargne_brute"].to_string(), f[0]);
    let parquet = get(
        port,
        "/commune/2A004?format=parquet&table=commune-2A004-evolution",
    );
    assert!(parquet.body.starts_with(b"PAR1"), "{}", parquet.headers);

    // Groupement, département, région fiches with their figures and members.
    for (url, niveau, key) in [
        ("/groupement/242010056", "GFP", "siren = '242010056'"),
        ("/departement/971", "DEP", "code = '971'"),
        ("/region/94", "REG", "code = '94'"),
    ] {
        let v = p.value(&format!(
            "SELECT recettes_fonctionnement FROM finances.fiche WHERE niveau = '{niveau}' AND {key} ORDER BY exercice DESC LIMIT 1"
        ));
        let page = get(port, url);
        assert_eq!(page.status, 200, "{url}");
        assert!(page.text().contains(&french(&v)), "{url}: {v}");
    }
    assert!(
        get(port, "/groupement/242010056")
            .text()
            .contains("href=\"/commune/2A004\""),
        "members"
    );

    // Compare 4 communes; the address is the comparison.
    let cmp = get(
        port,
        "/comparer?ids=commune:2A004,commune:97101,commune:90010,commune:97103",
    );
    assert_eq!(cmp.status, 200);
    let cmp_csv = String::from_utf8(
        get(
            port,
            "/comparer?ids=commune:2A004,commune:97101,commune:90010,commune:97103&format=csv",
        )
        .body,
    )
    .unwrap();
    assert!(
        cmp_csv
            .lines()
            .next()
            .unwrap()
            .contains("2A004_montant,2A004_par_habitant,97101_montant")
    );
    assert_eq!(
        get(port, "/comparer?ids=commune:2A004,region:94").status,
        400,
        "levels mixed"
    );
    assert_eq!(
        get(
            port,
            "/comparer?ids=commune:2A004,commune:97101,commune:90010,commune:97103,commune:01001"
        )
        .status,
        400
    );

    // Map, strate, catalogue, DCAT.
    let map = get(port, "/carte?niveau=departement&indicateur=encours_dette").text();
    assert_eq!(
        map.matches("<path d=").count(),
        101,
        "every département drawn"
    );
    // The communes of one département, each with its value, linked to its fiche.
    let eb = p.value("SELECT epargne_brute_par_habitant FROM finances.fiche WHERE niveau = 'COM' AND code = '2A004' AND exercice = 2024");
    let communes = get(
        port,
        "/carte?niveau=commune&departement=2A&indicateur=epargne_brute&exercice=2024",
    )
    .text();
    let n = p.value("SELECT count(*) FROM ref.communes WHERE millesime = 2026 AND type_commune = 'COM' AND departement = '2A'");
    assert_eq!(
        communes.matches("<path d=").count().to_string(),
        n,
        "every commune of 2A drawn"
    );
    assert!(
        communes.contains(&format!(
            "aria-label=\"Ajaccio (2A004) : {} €/hab.\"",
            french(&eb)
        )),
        "{eb}"
    );
    assert!(
        get(port, "/departement/2A")
            .text()
            .contains("/carte?niveau=commune&amp;departement=2A")
    );
    assert_eq!(get(port, "/carte?niveau=commune").status, 400);
    // A bad parameter is said, in French, rather than the defaults shown as if asked.
    for (url, says) in [
        (
            "/commune/2A004?exercice=abc",
            "Paramètre exercice : une année parmi",
        ),
        ("/commune/2A004?exercice=1900", "(reçu « 1900 »)"),
        (
            "/commune/2A004?indicateur=zzz",
            "Paramètre indicateur : l'un de",
        ),
        (
            "/strate/commune/1?page=-1",
            "Paramètre page : un numéro de page à partir de 1",
        ),
        (
            "/carte?niveau=departement&exercice=abc",
            "Paramètre exercice",
        ),
        (
            "/comparer?ids=commune:2A004,commune:97101&indicateur=x",
            "Paramètre indicateur",
        ),
    ] {
        let a = get(port, url);
        assert_eq!(a.status, 400, "{url}");
        assert!(a.text().contains(says), "{url}: {}", a.text());
    }
    assert_eq!(
        get(port, "/carte?niveau=commune&departement=99").status,
        404
    );
    let strate = get(port, "/strate/commune/10?exercice=2024");
    assert!(strate.text().contains("href=\"/commune/2A004\"") || strate.text().contains("2A004"));
    assert!(
        get(port, "/catalogue/finances.fiche")
            .text()
            .contains("taux_epargne_brute_pct")
    );
    let dcat: serde_json::Value =
        serde_json::from_slice(&get(port, "/catalogue/dcat.jsonld").body).unwrap();
    assert_eq!(dcat["@type"], "dcat:Catalog");
    assert!(
        dcat["dcat:dataset"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["dct:identifier"] == "finances.fiche")
    );
    let file = dcat["dcat:dataset"][0]["dcat:distribution"][0]["dcat:downloadURL"]["@id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = &file[file.find("/fichiers/").unwrap()..];
    assert!(get(port, path).body.starts_with(b"PAR1"), "{path}");

    // An old code (merged commune) leads to the current one with a note.
    let old = get(port, "/commune/01340");
    assert_eq!(old.status, 308);
    assert!(
        old.headers.contains("/commune/01015?ancien=01340"),
        "{}",
        old.headers
    );
    // Merged before the first vintage of ref.fusions_communes (2019): no later date is known.
    let note = get(port, "/commune/01015?ancien=01340").text();
    assert!(
        note.contains("ancienne commune fusionnée au plus tard le 1er janvier 2019"),
        "{note}"
    );
    // Merged between two vintages: the bounds the COG gives, here and in the search.
    let old = get(port, "/commune/01039");
    assert!(
        old.headers.contains("/commune/01138?ancien=01039"),
        "{}",
        old.headers
    );
    let dated = "Béon, ancienne commune fusionnée au plus tard le 1er janvier 2023 dans Culoz-Béon";
    let bounds = "elle figurait encore au COG du 1er janvier 2022";
    let fiche = get(port, "/commune/01138?ancien=01039").text();
    assert!(fiche.contains(dated) && fiche.contains(bounds), "{fiche}");
    // however the code is typed
    let found = get(port, "/recherche?q=01%20039").text();
    assert!(found.contains(dated) && found.contains(bounds), "{found}");
    // A code that changed while the commune stayed (its chef-lieu moved) is no merger.
    let recoded = get(port, "/commune/27676?ancien=27058").text();
    assert!(
        recoded.contains(
            "ancien code de Les Trois Lacs, qui a changé de code au plus tard le 1er janvier 2023"
        ) && !recoded.contains("fusionnée"),
        "{recoded}"
    );

    // Bad input: French 404 with a search box; SQL-looking and huge strings are harmless.
    let nf = get(port, "/commune/99999");
    assert_eq!(nf.status, 404);
    assert!(nf.text().contains("Page introuvable") && nf.text().contains("role=\"search\""));
    assert_eq!(get(port, "/nimporte/quoi/encore").status, 404);
    assert_eq!(get(port, "/fichiers/r1/../../catalog.yaml").status, 404);
    let sqlish = get(
        port,
        "/recherche?q=%27%3B%20DROP%20TABLE%20finances.fiche%3B--",
    );
    assert_eq!(sqlish.status, 200);
    assert!(!sqlish.text().contains("<script>alert"));
    let xss = get(port, "/recherche?q=%3Cscript%3Ealert(1)%3C/script%3E").text();
    assert!(!xss.contains("<script>alert(1)") && xss.contains("&lt;script&gt;"));
    let huge = format!("/recherche?q={}", "a".repeat(60_000));
    let big = get(port, &huge);
    assert!(
        big.status == 200 || big.status == 414 || big.status == 431,
        "{}",
        big.status
    );
    assert_eq!(get(port, "/commune/2A004?format=xlsx").status, 400);
    assert_eq!(get(port, "/").status, 200, "still serving");

    // A new release is picked up without restart.
    p.ok(&["publish", "--release", "r2"]);
    wait_release(port, "r2");

    // A half-copied release (latest.json switched before the files were complete) is not
    // shown: the previous one stays served.
    let root = published(&p);
    common::copy_dir(&root.join("r2"), &root.join("r3"));
    let mut cat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("r3/catalog.json")).unwrap()).unwrap();
    cat["release"] = "r3".into();
    std::fs::write(
        root.join("r3/catalog.json"),
        serde_json::to_vec(&cat).unwrap(),
    )
    .unwrap();
    let victim = cat["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "finances.fiche")
        .unwrap()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .find(|p| p.ends_with(".parquet"))
        .unwrap();
    let bytes = std::fs::read(root.join("r3").join(&victim)).unwrap();
    std::fs::write(root.join("r3").join(&victim), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(
        root.join("latest.json"),
        r#"{"release": "r3", "catalog": "r3/catalog.json", "published_at": "now"}"#,
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(release_of(port), "r2", "a broken release is not served");
    assert!(get(port, "/commune/2A004").text().contains(&french(f[0])));

    // The served release disappears: pages still answer from memory.
    std::fs::remove_dir_all(root.join("r2")).unwrap();
    std::fs::remove_dir_all(root.join("r1")).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get(port, "/commune/2A004").status, 200);
    assert_eq!(get(port, "/carte").status, 200);
}

/// `opencoll serve --http --portal`: the portal's pages on the API's listener, public while
/// the API asks for its token, with the figures the same server's `/sql` answers.
#[test]
fn serve_mounts_the_portal_pages_beside_the_api() {
    const TOKEN: &str = "jeton-portail-42";
    let p = Proj::samples();
    let tokens = [("OPENCOLL_SERVE_TOKENS", format!("portail:{TOKEN}"))];
    let addr = format!("127.0.0.1:{}", common::free_port());
    // No release yet: said at once, with what to do.
    let out = p.run_env(&tokens, &["serve", "--http", &addr, "--portal"]);
    let err = common::stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("opencoll publish"), "{err}");

    p.ok(&["refresh"]);
    p.ok(&["publish", "--release", "r1"]);
    let port = common::free_port();
    let _server = common::serve_on(
        Command::new(env!("CARGO_BIN_EXE_opencoll"))
            .arg("--project")
            .arg(p.path())
            .args(["serve", "--http", &format!("127.0.0.1:{port}"), "--portal"])
            .envs(tokens.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("OPENCOLL_SERVE_USERS"),
        port,
    );

    let sql = "SELECT epargne_brute FROM finances.fiche WHERE niveau = 'COM' AND code = '2A004' AND exercice = 2024";
    let auth = ("Authorization", format!("Bearer {TOKEN}"));
    let refused = common::http(port, "POST", "/sql", &[], sql.as_bytes());
    assert_eq!(refused.status, 401, "the API still asks for its token");
    // a path shaped like a fiche's (`/{niveau}/{code}`) is the API's
    let refused = common::http(port, "GET", "/datasets/finances.fiche", &[], b"");
    assert_eq!(refused.status, 401);
    let answer = common::http(
        port,
        "POST",
        "/sql",
        &[(auth.0, &auth.1), ("Accept", "text/csv")],
        sql.as_bytes(),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    let value = text.lines().nth(1).expect("one row");
    assert_eq!(value, p.value(sql));

    let fiche = get(port, "/commune/2A004");
    assert_eq!(fiche.status, 200, "pages need no credentials");
    assert!(
        fiche.text().contains(&french(value)),
        "{value} on the fiche"
    );
    assert!(fiche.headers.contains("content-security-policy"));
    assert_eq!(release_of(port), "r1");
    assert_eq!(get(port, "/carte").status, 200);
    assert_eq!(get(port, "/health").status, 200);
    let datasets = common::http(port, "GET", "/datasets", &[(auth.0, &auth.1)], b"");
    assert_eq!(datasets.status, 200);
    assert!(
        datasets.json()["datasets"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let missing = get(port, "/pas/une/page");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("introuvable"), "{}", missing.text());
}

#[test]
fn portal_pages_render_in_headless_chromium_without_serious_accessibility_violations() {
    let p = Proj::samples();
    p.ok(&["refresh"]);
    p.ok(&["publish", "--release", "r1"]);
    let portal = start(&published(&p));
    let setup = common::run_ok(Command::new("bash").arg(common::repo().join("scripts/browser.sh")));
    let mut lines = setup.lines();
    let (chromium, modules) = (lines.next().unwrap(), lines.next().unwrap());
    let shots = common::repo().join("target/portal-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let pages = serde_json::json!([
        ["accueil", "/"],
        ["recherche", "/recherche?q=saint-denis"],
        ["commune", "/commune/2A004"],
        ["groupement", "/groupement/242010056"],
        ["departement", "/departement/971"],
        ["region", "/region/94"],
        [
            "comparer",
            "/comparer?ids=commune:2A004,commune:97101,commune:90010,commune:97103"
        ],
        [
            "carte",
            "/carte?niveau=departement&indicateur=encours_dette"
        ],
        ["carte-regions", "/carte?niveau=region"],
        [
            "carte-communes",
            "/carte?niveau=commune&departement=2A&indicateur=epargne_brute"
        ],
        ["strate", "/strate/commune/10"],
        ["catalogue", "/catalogue"],
        ["jeu", "/catalogue/finances.fiche"],
        ["ancien-code", "/commune/01340"],
        ["introuvable", "/commune/99999"],
    ]);
    let out = common::run_ok(
        Command::new("node")
            .arg(common::repo().join("tests/browser/portal.cjs"))
            .arg(format!("http://127.0.0.1:{}", portal.port))
            .arg(&shots)
            .arg(chromium)
            .arg(modules)
            .arg(pages.to_string()),
    );
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (name, page) in r["pages"].as_object().unwrap() {
        assert_eq!(page["lang"], "fr", "{name}");
        let serious: Vec<&serde_json::Value> = page["axe"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
            .collect();
        assert!(serious.is_empty(), "{name}: axe-core found {serious:#?}");
        assert!(shots.join(format!("{name}.png")).exists());
    }
    let page = |n: &str| &r["pages"][n];
    assert_eq!(page("introuvable")["status"], 404);
    assert_eq!(page("introuvable")["h1"], "Page introuvable");
    assert_eq!(page("commune")["h1"], "Ajaccio Commune");
    assert!(
        page("ancien-code")["url"]
            .as_str()
            .unwrap()
            .ends_with("/commune/01015?ancien=01340")
    );
    assert_eq!(
        page("carte")["svgPaths"].as_u64().unwrap(),
        101,
        "every département drawn"
    );

    // The key figures table as Chromium shows it equals SQL.
    let sql = p.value(
        "SELECT recettes_fonctionnement, epargne_brute_par_habitant FROM finances.fiche WHERE niveau = 'COM' AND code = '2A004' AND exercice = 2024",
    );
    let v: Vec<&str> = sql.split(',').collect();
    let rows = page("commune")["tables"][0]["rows"].as_array().unwrap();
    let rf = rows
        .iter()
        .find(|r| r[0] == "Recettes de fonctionnement")
        .unwrap();
    assert_eq!(rf[1].as_str().unwrap(), french(v[0]));
    let eb = rows.iter().find(|r| r[0] == "Épargne brute").unwrap();
    assert_eq!(eb[2].as_str().unwrap(), french(v[1]));

    // Compare of 4: one column pair per commune.
    let head = page("comparer")["tables"][0]["header"].as_array().unwrap();
    assert_eq!(head.len(), 1 + 2 * 4);

    // Suggestions as one types; the same search works with JavaScript off.
    let sugg: Vec<&str> = r["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["href"].as_str().unwrap())
        .collect();
    assert!(
        sugg.contains(&"/commune/93066") && sugg.contains(&"/commune/97411"),
        "{sugg:?}"
    );
    let plain = &r["noScriptSearch"];
    assert!(
        plain["url"]
            .as_str()
            .unwrap()
            .contains("/recherche?q=saint-denis")
    );
    let links: Vec<&str> = plain["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(links.contains(&"/commune/93066") && links.contains(&"/commune/97411"));
}
