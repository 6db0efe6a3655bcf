//! SYNTHETIC OFGL exports computed from the (synthetic) DGFiP balances of `balances.rs` /
//! `levels.rs` with the agrégat definitions of `data/reference/agregats.csv`.
//!
//! Layouts are those of the real OFGL exports (header names copied from the real fixtures,
//! the vintage year inside header names set to the exercice): UTF-8 with BOM, `;`, LF, dot
//! decimals, `Oui`/`Non` booleans. Amounts are integer cents end to end.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::balances::HEADER;
use crate::geo::{Geo, GeoCommune};
use crate::levels::{TRANSFER_IN, TRANSFER_OUT};
use crate::rng::hash_bytes;

// ------------------------------------------------------------------------------------------
// Real OFGL headers (copied from ../shared/fixtures/real/ofgl/*.csv; `2024` = vintage year,
// replaced by the exercice).

pub const H_COMMUNES: &str = "Exercice;Outre-mer;Code Insee 2024 Région;Nom 2024 Région;Code Insee 2024 Département;Nom 2024 Département;Code Siren 2024 EPCI;Nom 2024 EPCI;Strate population 2024;Commune rurale;Commune de montagne;Commune touristique;Tranche revenu par habitant;Présence QPV;Code Insee 2024 Commune;Nom 2024 Commune;Catégorie;Code Siren Collectivité;Code Insee Collectivité;Siret Budget;Libellé Budget;Type de budget;Nomenclature;Agrégat;Montant;Montant en millions;Population totale;Montant en € par habitant;Compte 2024 Disponible;code_type_budget;ordre_analyse1_section1;ordre_analyse1_section2;ordre_analyse1_section3;ordre_analyse2_section1;ordre_analyse2_section2;ordre_analyse2_section3;ordre_analyse3_section1;ordre_analyse3_section2;ordre_analyse3_section3;ordre_analyse4_section1;annee_join;Population totale du dernier exercice";
pub const H_COMMUNES_CONSO: &str = "Exercice;Outre-mer;Code Insee 2024 Région;Nom 2024 Région;Code Insee 2024 Département;Nom 2024 Département;Code Siren 2024 EPCI;Nom 2024 EPCI;Strate population 2024;Commune rurale;Commune de montagne;Commune touristique;Tranche revenu par habitant;Présence QPV;Code Insee 2024 Commune;Nom 2024 Commune;Catégorie;Code Siren Collectivité;Code Insee Collectivité;Libellé Budget;Agrégat;Montant BP;Montant BA;Montant flux BP-BA;Montant;Montant en millions;Population totale;Montant en € par habitant;Compte 2024 Disponible;ordre_analyse1_section1;ordre_analyse1_section2;ordre_analyse1_section3;ordre_analyse2_section1;ordre_analyse2_section2;ordre_analyse2_section3;ordre_analyse3_section1;ordre_analyse3_section2;ordre_analyse3_section3;ordre_analyse4_section1;annee_join;Population totale du dernier exercice";
pub const H_GFP_CONSO: &str = "Exercice;Outre-mer;Code Insee 2024 Région;Nom 2024 Région;Code Insee 2024 Département;Nom 2024 Département;Strate population 2024;Nature juridique 2024 abrégée;Mode de financement 2024 abrégé;Tranche revenu par habitant;Présence QPV;Code Siren 2024 EPCI;Nom 2024 EPCI;Catégorie;Code Siren Collectivité;Libellé Budget;Agrégat;Montant BP;Montant BA;Montant flux BP-BA;Montant;Montant en millions;Population totale;Montant en € par habitant;Compte 2024 disponible;ordre_analyse1_section1;ordre_analyse1_section2;ordre_analyse1_section3;ordre_analyse2_section1;ordre_analyse2_section2;ordre_analyse2_section3;ordre_analyse3_section1;ordre_analyse3_section2;ordre_analyse3_section3;ordre_analyse4_section1;siren_23;nom_23;categ_23;Population totale du dernier exercice;annee_join";
pub const H_DEPARTEMENTS_CONSO: &str = "Exercice;Outre-mer;Code Insee 2024 Région;Nom 2024 Région;Strate population 2024;Rural / Urbain;Code Insee 2024 Département;Nom 2024 Département;Catégorie;Code Siren Collectivité;Libellé Budget;Agrégat;Montant BP;Montant BA;Montant flux BP-BA;Montant;Montant en millions;Population totale;Montant en € par habitant;ordre_analyse1_section1;ordre_analyse1_section2;ordre_analyse1_section3;ordre_analyse2_section1;ordre_analyse2_section2;ordre_analyse2_section3;ordre_analyse3_section1;ordre_analyse3_section2;ordre_analyse3_section3;ordre_analyse4_section1;annee_join;Population totale du dernier exercice";
pub const H_REGIONS_CONSO: &str = "Exercice;Outre-mer;CTU ou Collectivité de Corse;Code Insee 2024 Région;Nom 2024 Région;Catégorie;Code Siren Collectivité;Libellé Budget;Agrégat;Montant BP;Montant BA;Montant flux BP-BA;Montant;Montant en millions;Population totale;Montant en € par habitant;ordre_analyse1_section1;ordre_analyse1_section2;ordre_analyse1_section3;ordre_analyse2_section1;ordre_analyse2_section2;ordre_analyse2_section3;ordre_analyse3_section1;ordre_analyse3_section2;ordre_analyse3_section3;ordre_analyse4_section1;annee_join";

/// Header of a layout for one exercice (the vintage year `2024` inside names → exercice).
pub fn header_for(template: &str, exer: u16) -> String {
    template.replace("2024", &exer.to_string())
}

/// `ordre_analyse1_section1` … `ordre_analyse4_section1` of an agrégat: constant per agrégat
/// and identical across levels in the real OFGL exports (presentation metadata of OFGL's
/// analysis tree, copied from the real fixtures).
fn ordre_analyse(agregat: &str) -> [&'static str; 10] {
    let e = "";
    match agregat {
        "Recettes de fonctionnement" => ["4", e, e, "1", e, "1", e, e, e, e],
        "Dépenses de fonctionnement" => [e, "4", e, e, "1", "2", e, e, e, e],
        "Epargne brute" => [e, e, e, e, e, "3", e, e, e, e],
        "Remboursements d'emprunts hors GAD" => [e, "2", e, e, e, e, e, e, e, e],
        "Emprunts hors GAD" => ["2", e, e, e, e, e, e, e, "4", e],
        "Epargne nette" => [e, e, e, e, e, e, e, e, "2", e],
        "Charges financières" => [e, e, e, e, "5", e, e, e, e, e],
        "Encours de dette" => [e, e, e, e, e, e, e, e, e, "1"],
        "Frais de personnel" => [e, e, e, e, "2", e, e, e, e, e],
        "Dépenses d'équipement" => [e, e, e, e, e, e, e, "2", e, e],
        "Subventions d'équipement versées" => [e, e, e, e, e, e, e, "3", e, e],
        "Autres dépenses d'investissement" => [e, e, e, e, e, e, e, "4", e, e],
        "Dépenses d'investissement hors remb" => [e, "5", e, e, e, e, e, "1", "1", e],
        "FCTVA" => [e, e, e, e, e, e, "2", e, e, e],
        "Autres dotations et subventions" => [e, e, e, e, e, e, "3", e, e, e],
        "Autres recettes d'investissement" => [e, e, e, e, e, e, "4", e, e, e],
        "Recettes d'investissement hors emprunts" => ["5", e, e, e, e, e, "1", e, "3", e],
        _ => [e; 10],
    }
}

// ------------------------------------------------------------------------------------------
// Agrégat definitions.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sens {
    Debit,
    Credit,
    DebitBrut,
    CreditBrut,
    SoldeCrediteur,
    Derive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colonne {
    Obnet,
    ObnetReel,
    Solde,
    None,
}

#[derive(Clone, Debug)]
pub struct Definition {
    pub agregat: String,
    pub niveau: String,
    pub nomenclature: String,
    pub exercice_min: u16,
    pub exercice_max: Option<u16>,
    pub sens: Sens,
    pub inclus: Vec<String>,
    pub exclus: Vec<String>,
    pub colonne: Colonne,
    /// `derive` terms: (+1/−1, agrégat name).
    pub terms: Vec<(i64, String)>,
}

impl Definition {
    fn applies(&self, niveau: &str, nomen: &str, exer: u16) -> bool {
        let nomen = nomen.strip_suffix('A').unwrap_or(nomen);
        (self.niveau == "*" || self.niveau == niveau)
            && (self.nomenclature == "*" || self.nomenclature == nomen)
            && exer >= self.exercice_min
            && self.exercice_max.is_none_or(|m| exer <= m)
    }

    fn matches(&self, compte: &str) -> bool {
        self.inclus.iter().any(|p| compte.starts_with(p.as_str()))
            && !self.exclus.iter().any(|p| compte.starts_with(p.as_str()))
    }

    /// Contribution of one balance row (cents).
    fn value(&self, r: &BalanceRow) -> i64 {
        let [_, _, obd, obc, _, _, oobd, oobc, sd, sc] = r.v;
        let (d, c) = match self.colonne {
            Colonne::ObnetReel => (obd - oobd, obc - oobc),
            Colonne::Obnet => (obd, obc),
            Colonne::Solde | Colonne::None => (sd, sc),
        };
        match self.sens {
            Sens::Debit => d - c,
            Sens::Credit | Sens::SoldeCrediteur => c - d,
            Sens::DebitBrut => d,
            Sens::CreditBrut => c,
            Sens::Derive => 0,
        }
    }
}

/// Splits a `derive` formula `A - B + C` into signed names (names never contain ` + `/` - `).
pub fn parse_formula(f: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut sign = 1;
    let mut rest = f.trim();
    loop {
        let plus = rest.find(" + ");
        let minus = rest.find(" - ");
        let next = match (plus, minus) {
            (Some(p), Some(m)) => Some(if p < m { (p, 1) } else { (m, -1) }),
            (Some(p), None) => Some((p, 1)),
            (None, Some(m)) => Some((m, -1)),
            (None, None) => None,
        };
        match next {
            Some((at, s)) => {
                out.push((sign, rest[..at].trim().to_string()));
                sign = s;
                rest = &rest[at + 3..];
            }
            None => {
                out.push((sign, rest.trim().to_string()));
                return out;
            }
        }
    }
}

/// Reads `agregats.csv`, keeping only the OFGL "opérations réelles" family: rows with
/// `exercice_min` = 2012 whose name does not end with ` (fiche DGFiP)`.
pub fn load_definitions(path: &Path) -> Result<Vec<Definition>, String> {
    let err = |e: String| format!("{}: {e}", path.display());
    let mut rdr = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| err(e.to_string()))?;
    let headers = rdr.headers().map_err(|e| err(e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| err(format!("no column {name:?}")))
    };
    let idx = [
        col("agregat")?,
        col("niveau")?,
        col("nomenclature")?,
        col("exercice_min")?,
        col("exercice_max")?,
        col("sens")?,
        col("comptes_inclus")?,
        col("comptes_exclus")?,
        col("colonne")?,
        col("formule")?,
    ];
    let split = |s: &str| -> Vec<String> {
        s.split('|')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    };
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| err(e.to_string()))?;
        let f = |i: usize| rec[idx[i]].trim().to_string();
        let agregat = f(0);
        if f(3) != "2012" || agregat.ends_with(" (fiche DGFiP)") {
            continue;
        }
        let sens = match f(5).as_str() {
            "debit" => Sens::Debit,
            "credit" => Sens::Credit,
            "debit_brut" => Sens::DebitBrut,
            "credit_brut" => Sens::CreditBrut,
            "solde_crediteur" => Sens::SoldeCrediteur,
            "derive" => Sens::Derive,
            other => return Err(err(format!("{agregat}: unknown sens {other:?}"))),
        };
        let colonne = match f(8).as_str() {
            "obnet" => Colonne::Obnet,
            "obnet_reel" => Colonne::ObnetReel,
            "solde" => Colonne::Solde,
            "" => Colonne::None,
            other => return Err(err(format!("{agregat}: unknown colonne {other:?}"))),
        };
        if (sens == Sens::Derive) != (colonne == Colonne::None)
            || (sens == Sens::SoldeCrediteur) != (colonne == Colonne::Solde)
        {
            return Err(err(format!("{agregat}: sens/colonne mismatch")));
        }
        let year = |s: String| -> Result<Option<u16>, String> {
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse()
                    .map(Some)
                    .map_err(|_| err(format!("{agregat}: bad year {s:?}")))
            }
        };
        out.push(Definition {
            niveau: f(1),
            nomenclature: f(2),
            exercice_min: year(f(3))?.unwrap_or(0),
            exercice_max: year(f(4))?,
            sens,
            inclus: split(&f(6)),
            exclus: split(&f(7)),
            colonne,
            terms: if sens == Sens::Derive {
                parse_formula(&f(9))
            } else {
                Vec::new()
            },
            agregat,
        });
    }
    if out.is_empty() {
        return Err(err("no OFGL (exercice_min 2012) definition".into()));
    }
    Ok(out)
}

/// Agrégats (names not starting with `_`) defined for `niveau` in `exer`, in file order.
pub fn emitted(defs: &[Definition], niveau: &str, exer: u16) -> Vec<String> {
    let mut seen = BTreeSet::new();
    defs.iter()
        .filter(|d| {
            !d.agregat.starts_with('_')
                && (d.niveau == "*" || d.niveau == niveau)
                && exer >= d.exercice_min
                && d.exercice_max.is_none_or(|m| exer <= m)
        })
        .filter(|d| seen.insert(d.agregat.clone()))
        .map(|d| d.agregat.clone())
        .collect()
}

/// Every agrégat (helpers included) of one set of balance rows, in cents.
pub fn compute(
    defs: &[Definition],
    niveau: &str,
    nomen: &str,
    exer: u16,
    rows: &[BalanceRow],
) -> Result<BTreeMap<String, i64>, String> {
    let mut base: BTreeMap<String, i64> = BTreeMap::new();
    let mut derive: BTreeMap<&str, &Definition> = BTreeMap::new();
    for d in defs.iter().filter(|d| d.applies(niveau, nomen, exer)) {
        if d.sens == Sens::Derive {
            if derive.insert(&d.agregat, d).is_some() {
                return Err(format!("{}: two derive rows apply", d.agregat));
            }
            continue;
        }
        let v: i64 = rows
            .iter()
            .filter(|r| d.matches(&r.compte))
            .map(|r| d.value(r))
            .sum();
        if base.insert(d.agregat.clone(), v).is_some() {
            return Err(format!(
                "{}: two definition rows apply to {niveau}/{nomen}/{exer}",
                d.agregat
            ));
        }
    }
    fn eval<'a>(
        name: &'a str,
        base: &BTreeMap<String, i64>,
        derive: &BTreeMap<&'a str, &'a Definition>,
        done: &mut BTreeMap<String, i64>,
        stack: &mut Vec<&'a str>,
    ) -> Result<i64, String> {
        if let Some(&v) = base.get(name).or_else(|| done.get(name)) {
            return Ok(v);
        }
        let Some(d) = derive.get(name) else {
            return Ok(0); // missing leaf = 0 (OFGL does not tell absent from zero)
        };
        if stack.contains(&name) {
            return Err(format!("cycle in derive formulas at {name:?}"));
        }
        stack.push(name);
        let mut v = 0;
        for (s, t) in &d.terms {
            v += s * eval(t, base, derive, done, stack)?;
        }
        stack.pop();
        done.insert(name.to_string(), v);
        Ok(v)
    }
    let mut done = BTreeMap::new();
    for name in derive.keys() {
        eval(name, &base, &derive, &mut done, &mut Vec::new())?;
    }
    base.extend(done);
    Ok(base)
}

// ------------------------------------------------------------------------------------------
// Balances.

#[derive(Clone, Debug)]
pub struct BalanceRow {
    pub compte: String,
    /// BEDEB, BECRE, OBNETDEB, OBNETCRE, ONBDEB, ONBCRE, OOBDEB, OOBCRE, SD, SC (cents).
    pub v: [i64; 10],
}

#[derive(Clone, Debug)]
pub struct BudgetRows {
    pub ident: String,
    pub cbudg: String,
    pub nomen: String,
    pub siren: String,
    pub lbudg: String,
    pub categ: String,
    pub rows: Vec<BalanceRow>,
}

/// `123,45` → 12345 (exact).
pub fn parse_cents(s: &str) -> Result<i64, String> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (e, d) = s.split_once(',').unwrap_or((s, ""));
    if e.is_empty() || d.len() > 2 || !(e.bytes().chain(d.bytes()).all(|b| b.is_ascii_digit())) {
        return Err(format!("bad amount {s:?}"));
    }
    let d2 = format!("{d:0<2}");
    let v = e.parse::<i64>().map_err(|x| x.to_string())? * 100 + d2.parse::<i64>().unwrap_or(0);
    Ok(if neg { -v } else { v })
}

/// Reads one DGFiP bulk balance file (windows-1252, `;`, decimal comma), budgets in file order.
pub fn read_balances(path: &Path) -> Result<Vec<BudgetRows>, String> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    if headers.iter().collect::<Vec<_>>().join(";") != HEADER {
        return Err(format!(
            "{}: not a DGFiP bulk balance header",
            path.display()
        ));
    }
    let mut out: Vec<BudgetRows> = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
        let mut v = [0i64; 10];
        for (k, slot) in v.iter_mut().enumerate() {
            *slot = parse_cents(&rec[19 + k])
                .map_err(|e| format!("{} line {}: {e}", path.display(), n + 2))?;
        }
        let ident = &rec[1];
        if out.last().is_none_or(|b| b.ident != ident) {
            out.push(BudgetRows {
                ident: ident.to_string(),
                cbudg: rec[5].to_string(),
                nomen: rec[8].to_string(),
                siren: rec[9].to_string(),
                lbudg: rec[3].to_string(),
                categ: rec[15].to_string(),
                rows: Vec::new(),
            });
        }
        out.last_mut().unwrap().rows.push(BalanceRow {
            compte: rec[18].to_string(),
            v,
        });
    }
    Ok(out)
}

/// agregats.csv `niveau` of a balance `CATEG` (CTU is treated as a région).
pub fn niveau_of(categ: &str) -> Result<&'static str, String> {
    Ok(match categ {
        "Commune" => "COM",
        "GFP" => "GFP",
        "DEPT" => "DEP",
        "REG" | "CTU" => "REG",
        other => return Err(format!("unknown CATEG {other:?}")),
    })
}

// ------------------------------------------------------------------------------------------
// Number formatting (exact from cents).

/// Cents with 2 decimals and a dot: `-12345` → `-123.45`.
pub fn fmt_cents(c: i64) -> String {
    let a = c.unsigned_abs();
    format!("{}{}.{:02}", if c < 0 { "-" } else { "" }, a / 100, a % 100)
}

/// Cents / 1e8 (= euros / 1e6), exact, trailing zeros removed (at least one decimal).
pub fn fmt_millions(c: i64) -> String {
    let a = c.unsigned_abs();
    let frac = format!("{:08}", a % 100_000_000);
    let frac = frac.trim_end_matches('0');
    format!(
        "{}{}.{}",
        if c < 0 { "-" } else { "" },
        a / 100_000_000,
        if frac.is_empty() { "0" } else { frac }
    )
}

/// (cents / 100) / population as an f64, shortest round-trip form (`0.0`, `147.54712794279845`);
/// empty when the population is 0.
pub fn fmt_per_hab(c: i64, pop: u64) -> String {
    if pop == 0 {
        return String::new();
    }
    let x = (c as f64 / 100.0) / pop as f64;
    if x == 0.0 {
        return "0.0".into();
    }
    let s = format!("{x}");
    if s.contains('.') { s } else { s + ".0" }
}

fn oui(b: bool) -> &'static str {
    if b { "Oui" } else { "Non" }
}

fn field(s: &str) -> String {
    if s.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

// ------------------------------------------------------------------------------------------
// Synthetic context columns.

/// OFGL commune strate (bins consistent with the real export: 3 = 500–1 999 … 9 = 50 000–99 999).
pub fn strate_commune(pop: u64) -> u8 {
    match pop {
        0..100 => 1,
        100..500 => 2,
        500..2_000 => 3,
        2_000..3_500 => 4,
        3_500..5_000 => 5,
        5_000..10_000 => 6,
        10_000..20_000 => 7,
        20_000..50_000 => 8,
        50_000..100_000 => 9,
        _ => 10,
    }
}

pub fn strate_gfp(pop: u64) -> u8 {
    match pop {
        0..30_000 => 1,
        30_000..50_000 => 2,
        50_000..100_000 => 3,
        100_000..300_000 => 4,
        _ => 5,
    }
}

pub fn strate_departement(pop: u64) -> u8 {
    match pop {
        0..250_000 => 1,
        250_000..500_000 => 2,
        500_000..1_000_000 => 3,
        _ => 4,
    }
}

/// Synthetic commune flags (NOT real): rural = population < 2 000; montagne, touristique,
/// tranche de revenu from a hash of the INSEE code; QPV = population ≥ 10 000 and hash even.
struct Flags {
    rurale: bool,
    montagne: bool,
    touristique: bool,
    tranche: u64,
    qpv: bool,
}

fn flags(c: &GeoCommune) -> Flags {
    let h = hash_bytes(0xF1A6, c.code.as_bytes());
    Flags {
        rurale: c.population < 2_000,
        montagne: h % 100 < 40,
        touristique: (h >> 8) % 100 < 15,
        tranche: (h >> 16) % 3,
        qpv: c.population >= 10_000 && (h >> 24).is_multiple_of(2),
    }
}

fn outre_mer_dep(dep: &str) -> bool {
    dep.starts_with("97")
}

fn outre_mer_reg(reg: &str) -> bool {
    matches!(reg, "01" | "02" | "03" | "04" | "06")
}

// ------------------------------------------------------------------------------------------
// Export.

pub struct Options {
    pub balances: PathBuf,
    pub geo: Geo,
    pub definitions: Vec<Definition>,
    pub out: PathBuf,
    /// Communes level only: keep the communes of these départements (`None` = all).
    pub communes_departements: Option<Vec<String>>,
}

/// One written file: (path, data rows, bytes).
pub type Written = (PathBuf, usize, u64);

/// Balance files `balances_<niveau>_<exercice>.csv` found in `dir`, sorted.
pub fn find_balance_files(dir: &Path) -> Result<Vec<(String, u16, PathBuf)>, String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name
            .strip_prefix("balances_")
            .and_then(|r| r.strip_suffix(".csv"))
        else {
            continue;
        };
        let Some((niveau, year)) = rest.rsplit_once('_') else {
            continue;
        };
        if !LEVELS.iter().any(|l| l.stem == niveau) {
            continue;
        }
        let Ok(year) = year.parse::<u16>() else {
            continue;
        };
        out.push((niveau.to_string(), year, entry.path()));
    }
    out.sort();
    if out.is_empty() {
        return Err(format!(
            "{}: no balances_<niveau>_<exercice>.csv",
            dir.display()
        ));
    }
    Ok(out)
}

struct Out {
    w: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    rows: usize,
}

impl Out {
    fn create(dir: &Path, name: &str, header: &str) -> Result<Out, String> {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let f = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut o = Out {
            w: BufWriter::new(f),
            tmp,
            path,
            rows: 0,
        };
        o.raw(&format!("\u{feff}{header}\n"))?;
        Ok(o)
    }

    fn raw(&mut self, s: &str) -> Result<(), String> {
        self.w
            .write_all(s.as_bytes())
            .map_err(|e| format!("{}: {e}", self.tmp.display()))
    }

    fn row(&mut self, fields: &[String]) -> Result<(), String> {
        let mut line = fields
            .iter()
            .map(|f| field(f))
            .collect::<Vec<_>>()
            .join(";");
        line.push('\n');
        self.rows += 1;
        self.raw(&line)
    }

    fn finish(mut self) -> Result<Written, String> {
        self.w
            .flush()
            .map_err(|e| format!("{}: {e}", self.tmp.display()))?;
        drop(self.w);
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let bytes = std::fs::metadata(&self.path)
            .map_err(|e| e.to_string())?
            .len();
        Ok((self.path, self.rows, bytes))
    }
}

/// A collectivité of a balance file: its budgets (principal first) and agrégats per budget.
struct Coll<'a> {
    siren: String,
    budgets: Vec<(&'a BudgetRows, BTreeMap<String, i64>)>,
}

impl Coll<'_> {
    fn bp(&self) -> Option<&BudgetRows> {
        self.budgets.iter().map(|b| b.0).find(|b| b.cbudg == "1")
    }
}

/// Consolidated amounts of an agrégat: (BP, BA, flux, Montant = BP + BA − flux).
fn consolidate(coll: &Coll, flux: &BTreeMap<String, i64>, agregat: &str) -> [i64; 4] {
    let (mut bp, mut ba) = (0, 0);
    for (b, vals) in &coll.budgets {
        let v = vals.get(agregat).copied().unwrap_or(0);
        if b.cbudg == "1" { bp += v } else { ba += v }
    }
    let f = flux.get(agregat).copied().unwrap_or(0);
    [bp, ba, f, bp + ba - f]
}

/// Flux BP-BA of a collectivité: the agrégats evaluated on the transfer rows only, i.e. the
/// budget principal's `657363`/`657364` rows plus the budgets annexes' `7552` rows.
fn flux(
    defs: &[Definition],
    coll: &Coll,
    niveau: &str,
    exer: u16,
) -> Result<BTreeMap<String, i64>, String> {
    let Some(bp) = coll.bp() else {
        return Ok(BTreeMap::new());
    };
    let mut rows = Vec::new();
    for (b, _) in &coll.budgets {
        for r in &b.rows {
            let transfer = if b.cbudg == "1" {
                r.compte.starts_with(TRANSFER_OUT) || r.compte.starts_with("657364")
            } else {
                r.compte.starts_with(TRANSFER_IN)
            };
            if transfer {
                rows.push(r.clone());
            }
        }
    }
    compute(defs, niveau, &bp.nomen, exer, &rows)
}

/// Columns of one collectivité around its per-agrégat amounts.
struct Context {
    /// Columns before `Siret Budget` (per-budget file) / `Libellé Budget` (consolidated).
    head: Vec<String>,
    /// Columns after the `ordre_analyse*` ones.
    tail: Vec<String>,
    /// `Population totale`.
    pop: u64,
}

/// Geography indexes shared by the context builders.
struct Lookup<'a> {
    geo: &'a Geo,
    /// commune code → index in `geo.epci` (first EPCI listing it).
    epci_of: BTreeMap<&'a str, usize>,
    commune_by_siren: BTreeMap<&'a str, &'a GeoCommune>,
    communes_departements: &'a Option<Vec<String>>,
}

impl<'a> Lookup<'a> {
    fn new(opts: &'a Options) -> Self {
        let geo = &opts.geo;
        let mut epci_of = BTreeMap::new();
        for (i, e) in geo.epci.iter().enumerate() {
            for m in &e.membres {
                epci_of.entry(m.as_str()).or_insert(i);
            }
        }
        let commune_by_siren = geo
            .communes
            .iter()
            .filter(|c| !c.siren.is_empty())
            .map(|c| (c.siren.as_str(), c))
            .collect();
        Lookup {
            geo,
            epci_of,
            commune_by_siren,
            communes_departements: &opts.communes_departements,
        }
    }

    fn dep_name(&self, d: &str) -> String {
        let d = self.geo.departements.get(d);
        d.map_or("", |x| x.nom.as_str()).to_string()
    }

    fn reg_name(&self, r: &str) -> String {
        let r = self.geo.regions.get(r);
        r.map_or("", |x| x.nom.as_str()).to_string()
    }
}

/// Builds the context of a collectivité of balance file `path` for exercice `ex`; `None`
/// skips it (filtered out, or no budget principal where the context needs one).
type ContextFn = fn(&Lookup, &Coll, &Path, &str) -> Result<Option<Context>, String>;

/// What differs between the levels of the export.
struct LevelSpec {
    /// `balances_<stem>_<ex>.csv` → `ofgl-base-<stem>[-consolidee]_<ex>.csv`.
    stem: &'static str,
    /// Header of the per-budget file `ofgl-base-<stem>_<ex>.csv`, for the levels that have one.
    base_header: Option<&'static str>,
    /// Header of `ofgl-base-<stem>-consolidee_<ex>.csv`.
    conso_header: &'static str,
    /// Whether the layout has `Compte <ex> disponible` (`1`) after the per-inhabitant amount.
    compte_disponible: bool,
    /// The level's context columns, looked up in the geography by SIREN.
    context: ContextFn,
}

const LEVELS: [LevelSpec; 4] = [
    LevelSpec {
        stem: "communes",
        base_header: Some(H_COMMUNES),
        conso_header: H_COMMUNES_CONSO,
        compte_disponible: true,
        context: commune_context,
    },
    LevelSpec {
        stem: "gfp",
        base_header: None,
        conso_header: H_GFP_CONSO,
        compte_disponible: true,
        context: gfp_context,
    },
    LevelSpec {
        stem: "departements",
        base_header: None,
        conso_header: H_DEPARTEMENTS_CONSO,
        compte_disponible: false,
        context: departement_context,
    },
    LevelSpec {
        stem: "regions",
        base_header: None,
        conso_header: H_REGIONS_CONSO,
        compte_disponible: false,
        context: region_context,
    },
];

fn commune_context(
    lk: &Lookup,
    coll: &Coll,
    path: &Path,
    ex: &str,
) -> Result<Option<Context>, String> {
    let c = lk
        .commune_by_siren
        .get(coll.siren.as_str())
        .ok_or_else(|| format!("{}: unknown commune SIREN {}", path.display(), coll.siren))?;
    if let Some(keep) = lk.communes_departements
        && !keep.contains(&c.departement)
    {
        return Ok(None);
    }
    let fl = flags(c);
    let (epci_siren, epci_nom) = lk
        .epci_of
        .get(c.code.as_str())
        .map(|&i| (lk.geo.epci[i].siren.clone(), lk.geo.epci[i].nom.clone()))
        .unwrap_or_default();
    let pop = c.population;
    let head = vec![
        ex.to_string(),
        oui(outre_mer_dep(&c.departement)).into(),
        c.region.clone(),
        lk.reg_name(&c.region),
        c.departement.clone(),
        lk.dep_name(&c.departement),
        epci_siren,
        epci_nom,
        strate_commune(pop).to_string(),
        oui(fl.rurale).into(),
        oui(fl.montagne).into(),
        oui(fl.touristique).into(),
        fl.tranche.to_string(),
        oui(fl.qpv).into(),
        c.code.clone(),
        c.nom.clone(),
        "Commune".into(),
        c.siren.clone(),
        c.code.clone(),
    ];
    let tail = vec![ex.to_string(), pop.to_string()];
    Ok(Some(Context { head, tail, pop }))
}

fn gfp_context(lk: &Lookup, coll: &Coll, path: &Path, ex: &str) -> Result<Option<Context>, String> {
    let geo = lk.geo;
    let e = geo
        .epci
        .iter()
        .find(|e| e.siren == coll.siren)
        .ok_or_else(|| format!("{}: unknown EPCI SIREN {}", path.display(), coll.siren))?;
    let member_deps: Vec<String> = e.membres.iter().map(|m| geo.departement_of(m)).collect();
    let deps: BTreeSet<&String> = member_deps.iter().collect();
    let first = member_deps.first().cloned().unwrap_or_default();
    let region = geo
        .departements
        .get(&first)
        .map(|d| d.region.clone())
        .unwrap_or_default();
    let qpv = e
        .membres
        .iter()
        .filter_map(|m| geo.commune(m))
        .any(|c| flags(c).qpv);
    let tranche = hash_bytes(0xF1A7, e.siren.as_bytes()) % 3 + 1;
    let nature = match e.nature.as_str() {
        "METRO" | "ME" | "MET69" => "M".to_string(),
        other => other.to_string(),
    };
    let pop = e.population;
    let head = vec![
        ex.to_string(),
        oui(outre_mer_dep(&first)).into(),
        region.clone(),
        lk.reg_name(&region),
        deps.iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join(","),
        deps.iter()
            .map(|d| lk.dep_name(d))
            .collect::<Vec<_>>()
            .join(","),
        strate_gfp(pop).to_string(),
        nature,
        e.financement.clone(),
        tranche.to_string(),
        oui(qpv).into(),
        e.siren.clone(),
        e.nom.clone(),
        "GFP".into(),
        e.siren.clone(),
    ];
    // siren_23, nom_23, categ_23: the EPCI itself (no historic SIREN in a synthetic sample)
    let tail = vec![
        e.siren.clone(),
        e.nom.clone(),
        "GFP".into(),
        pop.to_string(),
        ex.to_string(),
    ];
    Ok(Some(Context { head, tail, pop }))
}

fn departement_context(
    lk: &Lookup,
    coll: &Coll,
    path: &Path,
    ex: &str,
) -> Result<Option<Context>, String> {
    let geo = lk.geo;
    let s = geo
        .dep_sirens
        .iter()
        .find(|s| s.siren == coll.siren)
        .ok_or_else(|| {
            let p = path.display();
            format!("{p}: unknown département SIREN {}", coll.siren)
        })?;
    let d = geo
        .departements
        .get(&s.insee)
        .ok_or_else(|| format!("département {} not in the geography", s.insee))?;
    let pop = geo.population_departement(&d.code);
    let urban: u64 = geo
        .communes
        .iter()
        .filter(|c| c.departement == d.code && c.population >= 10_000)
        .map(|c| c.population)
        .sum();
    let head = vec![
        ex.to_string(),
        oui(outre_mer_dep(&d.code)).into(),
        d.region.clone(),
        lk.reg_name(&d.region),
        strate_departement(pop).to_string(),
        if urban * 2 >= pop { "urbain" } else { "rural" }.into(),
        d.code.clone(),
        d.nom.clone(),
        "DEPT".into(),
        s.siren.clone(),
    ];
    let tail = vec![ex.to_string(), pop.to_string()];
    Ok(Some(Context { head, tail, pop }))
}

fn region_context(
    lk: &Lookup,
    coll: &Coll,
    path: &Path,
    ex: &str,
) -> Result<Option<Context>, String> {
    let s = lk
        .geo
        .reg_sirens
        .iter()
        .find(|s| s.siren == coll.siren)
        .ok_or_else(|| format!("{}: unknown région SIREN {}", path.display(), coll.siren))?;
    // `Catégorie` (REG or CTU) is the budget principal's CATEG
    let Some(bp) = coll.bp() else { return Ok(None) };
    let pop = lk.geo.population_region(&s.insee);
    let head = vec![
        ex.to_string(),
        oui(outre_mer_reg(&s.insee)).into(),
        oui(bp.categ == "CTU").into(),
        s.insee.clone(),
        lk.reg_name(&s.insee),
        bp.categ.clone(),
        s.siren.clone(),
    ];
    Ok(Some(Context {
        head,
        tail: vec![ex.to_string()],
        pop,
    }))
}

pub fn run(opts: &Options) -> Result<Vec<Written>, String> {
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let defs = &opts.definitions;
    let lookup = Lookup::new(opts);
    let mut written = Vec::new();
    for (stem, exer, path) in find_balance_files(&opts.balances)? {
        let spec = LEVELS
            .iter()
            .find(|l| l.stem == stem)
            .expect("find_balance_files keeps the stems of LEVELS");
        let budgets = read_balances(&path)?;
        // group budgets by SIREN, in order of first appearance
        let mut colls: Vec<Coll> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for b in &budgets {
            let niveau = niveau_of(&b.categ)?;
            let vals = compute(defs, niveau, &b.nomen, exer, &b.rows)
                .map_err(|e| format!("{} {}: {e}", path.display(), b.ident))?;
            let i = *index.entry(b.siren.clone()).or_insert_with(|| {
                colls.push(Coll {
                    siren: b.siren.clone(),
                    budgets: Vec::new(),
                });
                colls.len() - 1
            });
            colls[i].budgets.push((b, vals));
        }
        let niveau = match budgets.first() {
            Some(b) => niveau_of(&b.categ)?,
            None => continue,
        };
        let names = emitted(defs, niveau, exer);
        let ex = exer.to_string();
        let file = |suffix: &str, header: &str| {
            let name = format!("ofgl-base-{stem}{suffix}_{exer}.csv");
            Out::create(&opts.out, &name, &header_for(header, exer))
        };
        let mut base = spec.base_header.map(|h| file("", h)).transpose()?;
        let mut conso = file("-consolidee", spec.conso_header)?;
        for coll in &colls {
            let Some(cx) = (spec.context)(&lookup, coll, &path, &ex)? else {
                continue;
            };
            let pop = cx.pop.to_string();
            // per-budget file: one row per budget × agrégat
            if let Some(base) = &mut base {
                for (b, vals) in &coll.budgets {
                    let bp = b.cbudg == "1";
                    for a in &names {
                        let m = vals.get(a).copied().unwrap_or(0);
                        let mut f = cx.head.clone();
                        f.extend([
                            b.ident.clone(),
                            b.lbudg.clone(),
                            if bp {
                                "Budget principal"
                            } else {
                                "Budget annexe"
                            }
                            .into(),
                            b.nomen.clone(),
                            a.clone(),
                            fmt_cents(m),
                            fmt_millions(m),
                            pop.clone(),
                            fmt_per_hab(m, cx.pop),
                            "1".into(),
                            if bp { "1" } else { "3" }.into(),
                        ]);
                        f.extend(ordre_analyse(a).map(String::from));
                        f.extend(cx.tail.iter().cloned());
                        base.row(&f)?;
                    }
                }
            }
            // consolidated file: one row per collectivité × agrégat
            let Some(bp) = coll.bp() else { continue };
            let fx = flux(defs, coll, niveau, exer)?;
            for a in &names {
                let [mbp, mba, mfl, m] = consolidate(coll, &fx, a);
                let mut f = cx.head.clone();
                f.extend([
                    bp.lbudg.clone(),
                    a.clone(),
                    fmt_cents(mbp),
                    fmt_cents(mba),
                    fmt_cents(mfl),
                    fmt_cents(m),
                    fmt_millions(m),
                    pop.clone(),
                    fmt_per_hab(m, cx.pop),
                ]);
                if spec.compte_disponible {
                    f.push("1".into());
                }
                f.extend(ordre_analyse(a).map(String::from));
                f.extend(cx.tail.iter().cloned());
                conso.row(&f)?;
            }
        }
        if let Some(base) = base {
            written.push(base.finish()?);
        }
        written.push(conso.finish()?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balances::{Generator, Options as BalOptions};
    use crate::levels::tests::{deps, repo, sample_geo};
    use crate::levels::{Level, LevelGenerator, select};

    #[test]
    fn number_formats_are_exact() {
        assert_eq!(fmt_cents(0), "0.00");
        assert_eq!(fmt_cents(-5), "-0.05");
        assert_eq!(fmt_cents(775891327), "7758913.27");
        assert_eq!(fmt_millions(0), "0.0");
        assert_eq!(fmt_millions(775891327), "7.75891327");
        assert_eq!(fmt_millions(13_000_000_000), "130.0");
        assert_eq!(fmt_millions(-5), "-0.00000005");
        assert_eq!(fmt_millions(123_450_000), "1.2345");
        assert_eq!(fmt_per_hab(0, 10), "0.0");
        assert_eq!(fmt_per_hab(500, 5), "1.0");
        assert_eq!(fmt_per_hab(775891327, 52586), "147.54712794279845");
        assert_eq!(fmt_per_hab(1, 0), "");
        assert_eq!(parse_cents("96971,23").unwrap(), 9697123);
        assert_eq!(parse_cents("0,00").unwrap(), 0);
        assert!(parse_cents("1.5").is_err());
        assert_eq!(
            parse_formula("Epargne brute - Remboursements d'emprunts hors GAD + X"),
            vec![
                (1, "Epargne brute".to_string()),
                (-1, "Remboursements d'emprunts hors GAD".to_string()),
                (1, "X".to_string())
            ]
        );
    }

    #[test]
    fn headers_match_the_real_fixtures() {
        // The shared fixtures beside the repository (as in the workspace's real-file tests);
        // they must be there: a skipped check would pass without checking anything.
        let shared = std::env::var_os("OPENCOLL_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
        let dir = shared.join("fixtures/real/ofgl");
        assert!(
            dir.is_dir(),
            "{} not found (set OPENCOLL_SHARED)",
            dir.display()
        );
        for (file, h) in [
            ("ofgl-base-communes_2024_dep971.csv", H_COMMUNES),
            ("ofgl-base-communes-consolidee_sample.csv", H_COMMUNES_CONSO),
            ("ofgl-base-gfp-consolidee_sample.csv", H_GFP_CONSO),
            (
                "ofgl-base-departements-consolidee_sample.csv",
                H_DEPARTEMENTS_CONSO,
            ),
            ("ofgl-base-regions-consolidee_sample.csv", H_REGIONS_CONSO),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let first = text.lines().next().unwrap().trim_start_matches('\u{feff}');
            assert_eq!(first, h, "{file}");
        }
        assert!(header_for(H_REGIONS_CONSO, 2023).contains("Code Insee 2023 Région"));
    }

    fn defs() -> Vec<Definition> {
        load_definitions(&repo().join("data/reference/agregats.csv")).unwrap()
    }

    /// Generates balances of every level for 2A, 90, 971 into a fresh temp dir, runs the
    /// export, returns (balances dir, ofgl dir).
    fn pipeline(name: &str, exer: u16) -> (PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!("oc-gen-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (bal, out) = (root.join("dgfip"), root.join("ofgl"));
        std::fs::create_dir_all(&bal).unwrap();
        let geo = sample_geo();
        // communes of 971 only (fast), all other levels
        let communes: Vec<crate::balances::Commune> = geo
            .communes
            .iter()
            .filter(|c| c.departement == "971")
            .cloned()
            .collect();
        let g = Generator::new(BalOptions {
            seed: 20260101,
            accounts: 30,
            rows: None,
        });
        let mut f = File::create(bal.join(format!("balances_communes_{exer}.csv"))).unwrap();
        g.write(&Generator::prepare(&communes).unwrap(), exer, &mut f)
            .unwrap();
        let lg = LevelGenerator::new(20260101);
        for level in [Level::Gfp, Level::Departements, Level::Regions] {
            let cols = select(level, &geo, &deps(), 20260101).unwrap();
            let path = bal.join(format!("balances_{}_{exer}.csv", level.file_stem()));
            lg.write(&cols, exer, &mut File::create(path).unwrap())
                .unwrap();
        }
        run(&Options {
            balances: bal.clone(),
            geo,
            definitions: defs(),
            out: out.clone(),
            communes_departements: None,
        })
        .unwrap();
        (bal, out)
    }

    /// Rows of an OFGL file as header-name → value maps.
    fn read_ofgl(path: &Path) -> Vec<BTreeMap<String, String>> {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM");
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert!(!text.contains('\r'));
        let mut lines = text.lines();
        let h: Vec<&str> = lines.next().unwrap().split(';').collect();
        lines
            .map(|l| {
                let f: Vec<&str> = l.split(';').collect();
                assert_eq!(f.len(), h.len(), "{l}");
                h.iter()
                    .zip(f)
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    fn cents_dot(s: &str) -> i64 {
        let (e, d) = s.split_once('.').unwrap();
        assert_eq!(d.len(), 2, "{s}");
        let neg = e.starts_with('-');
        let v = e.trim_start_matches('-').parse::<i64>().unwrap() * 100 + d.parse::<i64>().unwrap();
        if neg { -v } else { v }
    }

    /// "Frais de personnel" recomputed from the raw balance text with the rule of its
    /// agregats.csv row (read here with a plain CSV reader, not through `load_definitions`),
    /// keyed by IDENT.
    fn frais_de_personnel(balance: &Path) -> BTreeMap<String, (String, String, i64)> {
        let mut rdr = csv::Reader::from_path(repo().join("data/reference/agregats.csv")).unwrap();
        let h = rdr.headers().unwrap().clone();
        let col = |n: &str| h.iter().position(|x| x == n).unwrap();
        let row = rdr
            .records()
            .map(|r| r.unwrap())
            .find(|r| {
                &r[col("agregat")] == "Frais de personnel" && &r[col("exercice_min")] == "2012"
            })
            .unwrap();
        assert_eq!(
            (&row[col("sens")], &row[col("colonne")]),
            ("debit", "obnet_reel")
        );
        let inclus: Vec<String> = row[col("comptes_inclus")]
            .split('|')
            .map(String::from)
            .collect();
        let exclus: Vec<String> = row[col("comptes_exclus")]
            .split('|')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let bytes = std::fs::read(balance).unwrap();
        let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
        let c = |s: &str| {
            let (e, d) = s.split_once(',').unwrap();
            e.parse::<i64>().unwrap() * 100 + d.parse::<i64>().unwrap()
        };
        let mut out: BTreeMap<String, (String, String, i64)> = BTreeMap::new();
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split(';').collect();
            let e = out
                .entry(f[1].to_string())
                .or_insert((f[9].to_string(), f[5].to_string(), 0));
            let compte = f[18];
            if inclus.iter().any(|p| compte.starts_with(p.as_str()))
                && !exclus.iter().any(|p| compte.starts_with(p.as_str()))
            {
                // debit, opérations réelles: (OBNETDEB − OOBDEB) − (OBNETCRE − OOBCRE)
                e.2 += (c(f[21]) - c(f[25])) - (c(f[22]) - c(f[26]));
            }
        }
        out
    }

    #[test]
    fn agregat_recomputed_from_balances_equals_ofgl_and_epargne_brute_identity() {
        let exer = 2024;
        let (bal, out) = pipeline("e2e", exer);
        // communes, per budget
        let fp = frais_de_personnel(&bal.join(format!("balances_communes_{exer}.csv")));
        let base = read_ofgl(&out.join(format!("ofgl-base-communes_{exer}.csv")));
        let mut seen = 0;
        for r in &base {
            if r["Agrégat"] == "Frais de personnel" {
                assert_eq!(cents_dot(&r["Montant"]), fp[&r["Siret Budget"]].2, "{r:?}");
                seen += 1;
            }
        }
        assert_eq!(seen, fp.len());
        // every level, consolidated: BP and BA columns
        for stem in ["communes", "gfp", "departements", "regions"] {
            let fp = frais_de_personnel(&bal.join(format!("balances_{stem}_{exer}.csv")));
            let rows = read_ofgl(&out.join(format!("ofgl-base-{stem}-consolidee_{exer}.csv")));
            let mut by_coll: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
            let mut nonzero = 0;
            for r in &rows {
                let siren = r["Code Siren Collectivité"].clone();
                let m = cents_dot(&r["Montant"]);
                let (bp, ba, fl) = (
                    cents_dot(&r["Montant BP"]),
                    cents_dot(&r["Montant BA"]),
                    cents_dot(&r["Montant flux BP-BA"]),
                );
                assert_eq!(m, bp + ba - fl, "{r:?}");
                assert_eq!(r["Exercice"], exer.to_string());
                if r["Agrégat"] == "Frais de personnel" {
                    let (mut ebp, mut eba) = (0, 0);
                    for (s, cb, v) in fp.values() {
                        if *s == siren {
                            if cb == "1" { ebp += v } else { eba += v }
                        }
                    }
                    assert_eq!((bp, ba, fl), (ebp, eba, 0), "{stem} {siren}");
                    nonzero += (m != 0) as usize;
                }
                by_coll
                    .entry(siren)
                    .or_default()
                    .insert(r["Agrégat"].clone(), m);
            }
            assert!(nonzero > 0, "{stem}");
            for (siren, a) in &by_coll {
                assert_eq!(
                    a["Epargne brute"],
                    a["Recettes de fonctionnement"] - a["Dépenses de fonctionnement"],
                    "{stem} {siren}"
                );
                assert_eq!(
                    a["Epargne nette"],
                    a["Epargne brute"] - a["Remboursements d'emprunts hors GAD"]
                );
            }
        }
        // Epargne brute = RF − DF per budget too
        let mut per: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for r in &base {
            per.entry(r["Siret Budget"].clone())
                .or_default()
                .insert(r["Agrégat"].clone(), cents_dot(&r["Montant"]));
        }
        for a in per.values() {
            assert_eq!(
                a["Epargne brute"],
                a["Recettes de fonctionnement"] - a["Dépenses de fonctionnement"]
            );
        }
        let _ = std::fs::remove_dir_all(bal.parent().unwrap());
    }

    #[test]
    fn every_agregat_is_non_trivial_on_the_new_levels() {
        let exer = 2023;
        let (bal, out) = pipeline("nontrivial", exer);
        for stem in ["gfp", "departements", "regions"] {
            let rows = read_ofgl(&out.join(format!("ofgl-base-{stem}-consolidee_{exer}.csv")));
            let niveau = match stem {
                "gfp" => "GFP",
                "departements" => "DEP",
                _ => "REG",
            };
            let names = emitted(&defs(), niveau, exer);
            assert!(names.len() >= 21, "{names:?}");
            for n in &names {
                assert!(
                    rows.iter()
                        .any(|r| &r["Agrégat"] == n && cents_dot(&r["Montant"]) != 0),
                    "{stem}: {n} is zero everywhere"
                );
            }
            // the helper row too, computed on the balances
            let budgets = read_balances(&bal.join(format!("balances_{stem}_{exer}.csv"))).unwrap();
            assert!(budgets.iter().any(|b| {
                compute(&defs(), niveau, &b.nomen, exer, &b.rows).unwrap()
                    ["_Autres recettes d'investissement hors cessions"]
                    != 0
            }));
            // flux BP-BA only on RF and DF, where annexes exist
            for r in &rows {
                let fl = cents_dot(&r["Montant flux BP-BA"]);
                if !matches!(
                    &*r["Agrégat"],
                    "Recettes de fonctionnement" | "Dépenses de fonctionnement"
                ) {
                    assert_eq!(fl, 0, "{r:?}");
                }
                if cents_dot(&r["Montant BA"]) == 0 && r["Agrégat"] == "Recettes de fonctionnement"
                {
                    assert_eq!(fl, 0);
                }
            }
        }
        let _ = std::fs::remove_dir_all(bal.parent().unwrap());
    }
}
