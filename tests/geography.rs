//! Adding a COG millésime is one command plus one line in the ref pipelines' `vars` (issue
//! "Geography vintages, added by a user in one step").
//!
//! The test does what `data/samples/geo/README.md` tells a user to do, on a copy of the project:
//! `python3 scripts/derive_geography.py --version 3.1.1:2023` writes the COG 2023 files, 2023 is
//! added to `vars: { millesime: [...] }` of the four ref pipelines, `opencoll refresh` loads it.
//! Then the passage table and the re-mapping view, which name no vintage, must work for three
//! vintages: every 2023 commune maps to 2026 with weights summing to 1, and what 2021 gave (the
//! figures measured with the committed vintages only) is unchanged.
//!
//! Needs `python3` (3.11+) and `npm`; it fails, never skips, when npm is missing. The package
//! tarball is fetched once with `npm pack` into `~/.cache/opencoll-npm` and then given to the
//! script through `--npm-dir`, so that later runs make no network call.

mod common;

use common::{Proj, repo, run_ok};
use std::path::PathBuf;
use std::process::Command;

const PACKAGE: &str = "@etalab/decoupage-administratif";
/// The package version that carries the COG 2023.
const VERSION_2023: &str = "3.1.1";
/// The pipelines that read `data/samples/geo/*_{millesime}.*`.
const REF_PIPELINES: [&str; 4] = ["communes", "departements", "regions", "epci_membres"];

/// `~/.cache/opencoll-npm`, holding `etalab-decoupage-administratif-<version>.tgz` (packed with
/// npm on the first run).
fn npm_cache(version: &str) -> PathBuf {
    let npm = Command::new("npm").arg("--version").output();
    assert!(
        matches!(&npm, Ok(o) if o.status.success()),
        "this test needs npm (scripts/derive_geography.py takes the geography from the npm \
         package {PACKAGE}), but `npm --version` did not run: {npm:?}. Install Node.js and npm."
    );
    let home = std::env::var_os("HOME").expect("HOME is not set: cannot find ~/.cache");
    let cache = PathBuf::from(home).join(".cache/opencoll-npm");
    std::fs::create_dir_all(&cache).unwrap();
    let name = format!("etalab-decoupage-administratif-{version}.tgz");
    let tgz = cache.join(&name);
    if !tgz.is_file() {
        // Packed in a private folder and moved into place: a concurrent run never sees half a file.
        let tmp = tempfile::tempdir_in(&cache).unwrap();
        run_ok(
            Command::new("npm")
                .arg("pack")
                .arg("--silent")
                .arg(format!("{PACKAGE}@{version}"))
                .current_dir(tmp.path()),
        );
        std::fs::rename(tmp.path().join(name), tgz).unwrap();
    }
    cache
}

#[test]
fn a_cog_vintage_added_with_one_command_maps_to_the_latest() {
    let p = Proj::samples();
    let geo = p.path().join("data/samples/geo");

    // 1. The one command.
    let out = run_ok(
        Command::new("python3")
            .arg(repo().join("scripts/derive_geography.py"))
            .arg("--version")
            .arg(format!("{VERSION_2023}:2023"))
            .arg("--npm-dir")
            .arg(npm_cache(VERSION_2023))
            .arg("--out")
            .arg(&geo)
            .current_dir(p.path())
            .env("PYTHONIOENCODING", "utf-8"),
    );
    assert!(
        out.contains("check ok: commune-actuelle 2023 = 35039"),
        "{out}"
    );
    for name in [
        "communes_2023.csv.gz",
        "epci_2023.json.gz",
        "departements_2023.json.gz",
        "regions_2023.json.gz",
    ] {
        assert!(geo.join(name).is_file(), "{name} not written:\n{out}");
    }
    // The script prints the change to make, which is the one made below.
    assert!(
        out.contains(
            "vars: { millesime: [2021, 2026] }  ->  vars: { millesime: [2021, 2023, 2026] }"
        ),
        "{out}"
    );

    // 2. The one line, in each of the four ref pipelines.
    for name in REF_PIPELINES {
        let path = p.path().join(format!("pipelines/ref/{name}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches("millesime: [2021, 2026]").count(),
            1,
            "{} has no single `millesime: [2021, 2026]`",
            path.display()
        );
        let text = text.replace("millesime: [2021, 2026]", "millesime: [2021, 2023, 2026]");
        std::fs::write(path, text).unwrap();
    }

    let out = p.ok(&["refresh"]);
    for name in REF_PIPELINES {
        assert!(out.contains(&format!("ok      ref.{name}")), "{out}");
    }
    assert!(!out.contains("FAILED"), "{out}");
    assert_eq!(
        p.rows("SELECT millesime, count(*) FROM ref.communes GROUP BY 1 ORDER BY 1"),
        vec!["2021,37836", "2023,37657", "2026,37590"]
    );

    // Each vintage is mapped to every later one, the latest included.
    assert_eq!(
        p.rows(
            "SELECT millesime_from, millesime_to, count(DISTINCT code_from) \
             FROM ref.passage_communes GROUP BY 1, 2 ORDER BY 1, 2"
        ),
        vec!["2021,2023,35059", "2021,2026,35059", "2023,2026,35039"]
    );

    // Every commune of 2021 and of 2023 maps to communes of 2026, with weights summing to 1.
    for (from, communes) in [(2021, "35059"), (2023, "35039")] {
        assert_eq!(
            p.value(&format!(
                "SELECT count(*) FROM ref.communes WHERE millesime = {from} AND type_commune = 'COM'"
            )),
            communes
        );
        assert_eq!(
            p.value(&format!(
                "SELECT count(DISTINCT c.code) FROM ref.communes c \
                 JOIN ref.passage_communes p \
                   ON p.millesime_from = c.millesime AND p.code_from = c.code AND p.millesime_to = 2026 \
                 WHERE c.millesime = {from} AND c.type_commune = 'COM'"
            )),
            communes,
            "communes of {from} without a 2026 commune"
        );
        assert_eq!(
            p.value(&format!(
                "SELECT count(*) FROM ( \
                   SELECT code_from, sum(poids) AS somme FROM ref.passage_communes \
                   WHERE millesime_from = {from} AND millesime_to = 2026 GROUP BY code_from) \
                 WHERE abs(somme - 1) > 1e-9"
            )),
            "0",
            "codes of {from} whose weights to 2026 do not sum to 1"
        );
        assert_eq!(
            p.value(&format!(
                "SELECT count(*) FROM ref.passage_communes p \
                 WHERE p.millesime_from = {from} AND p.millesime_to = 2026 AND NOT EXISTS ( \
                   SELECT 1 FROM ref.communes c \
                   WHERE c.millesime = 2026 AND c.type_commune = 'COM' AND c.code = p.code_to)"
            )),
            "0",
            "targets of {from} that are not communes of 2026"
        );
    }

    // 2021 -> 2026 as with the committed vintages only: adding 2023 changed nothing.
    assert_eq!(
        p.rows(
            "SELECT evenement, count(*) FROM ref.passage_communes \
             WHERE millesime_from = 2021 AND millesime_to = 2026 GROUP BY 1 ORDER BY 1"
        ),
        vec!["fusion,102", "identique,34957", "rétablissement,11"]
    );
    assert_eq!(
        p.value(
            "SELECT count(*), CAST(sum(population_from) AS BIGINT) FROM ref.population_communes_remappee \
             WHERE millesime_from = 2021 AND millesime_to = 2026"
        ),
        "34969,67853066"
    );

    // The 2023 populations re-mapped: every 2026 commune receives, and the total is the 2023 one
    // (68 022 969) up to the rounding of each target commune.
    assert_eq!(
        p.value(
            "SELECT count(*), CAST(sum(population_from) AS BIGINT) FROM ref.population_communes_remappee \
             WHERE millesime_from = 2023 AND millesime_to = 2026"
        ),
        "34969,68022970"
    );
}
