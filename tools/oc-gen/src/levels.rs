//! SYNTHETIC DGFiP balances of the other levels: groupements à fiscalité propre (GFP),
//! départements, régions and collectivités territoriales uniques (CTU, e.g. the Collectivité
//! de Corse), in the same 29-column bulk format as the communes (`balances.rs`).
//!
//! Every budget carries the WHOLE account plan of its level (about 45–75 accounts), so that
//! every OFGL agrégat of `data/reference/agregats.csv` gets non-zero amounts. Amounts come from
//! the same movement model as the communes (`balances::row_amounts`: integer cents, DGFiP
//! identity exact, classes 1–5 chained from 2012), except the BP → BA transfer pair
//! `657363` (budget principal, real debit) / `7552` (budget annexe, real credit), which carries
//! the SAME amount on both sides so that the OFGL "flux BP-BA" can be computed exactly.

// Amounts are written `euros_cents` (e.g. `800_00` = 800,00 € per inhabitant).
#![allow(clippy::inconsistent_digit_grouping)]

use std::collections::BTreeSet;
use std::io::{self, Write};

use crate::accounts::{Account, Kind};
use crate::balances::{
    Stats, amt, cregi, csv_field, dgfip_label, encode_cp1252, ndept, push_cents, row_amounts, siret,
};
use crate::geo::Geo;
use crate::rng::{Rng, combine, hash_bytes};

/// Account of the budget principal that pays the budget annexe (real debit).
pub const TRANSFER_OUT: &str = "657363";
/// Account of the budget annexe that receives it (real credit).
pub const TRANSFER_IN: &str = "7552";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Gfp,
    Departements,
    Regions,
}

impl Level {
    /// `balances_<stem>_<exercice>.csv`
    pub fn file_stem(self) -> &'static str {
        match self {
            Level::Gfp => "gfp",
            Level::Departements => "departements",
            Level::Regions => "regions",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Gfp,
    Dept,
    Reg,
    Ctu,
}

/// A collectivité of level GFP / DEPT / REG / CTU with its DGFiP codes.
#[derive(Clone, Debug)]
pub struct Collectivite {
    pub plan: Plan,
    /// `GFP`, `DEPT`, `REG`, `CTU`.
    pub categ: &'static str,
    pub ctype: &'static str,
    pub cstyp: &'static str,
    pub siren: String,
    /// LBUDG of the budget principal (windows-1252, upper case, no accents).
    pub label: Vec<u8>,
    /// LBUDG of the budget annexe, if the collectivité has one.
    pub annex_label: Option<Vec<u8>>,
    pub ndept: String,
    pub cregi: String,
    pub population: u64,
}

/// (legacy label: M14 / M52 / M71, M57 label, kind, stock €cents/hab, flow €cents/hab)
type Def = (&'static str, &'static str, Kind, i64, i64);

use Kind::*;

/// Accounts shared by the budgets principaux of every level (stocks, treasury, order ops).
const COMMON: &[Def] = &[
    ("1021", "1021", Equity, 150_00, 0),
    ("1068", "1068", Equity, 400_00, 30_00),
    ("165", "165", Deposit, 1_00, 20),
    ("2031", "2031", Asset, 10_00, 2_00),
    ("2111", "2111", Asset, 80_00, 2_00),
    ("2183", "2183", Asset, 8_00, 2_00),
    ("238", "238", Advance, 3_00, 2_00),
    ("261", "261", Asset, 5_00, 50),
    ("28031", "28031", Amort, 5_00, 1_00),
    ("28183", "28183", Amort, 5_00, 1_50),
    ("4011", "4011", ThirdCredit, 5_00, 300_00),
    ("4111", "4111", ThirdDebit, 2_00, 20_00),
    ("515", "515", Treasury, 60_00, 500_00),
    ("60611", "60611", Charge, 0, 2_00),
    ("6068", "6068", Charge, 0, 3_00),
    ("6226", "6226", Charge, 0, 1_00),
    ("6231", "6231", Charge, 0, 1_00),
    ("6218", "6218", Charge, 0, 2_00),
    ("6336", "6336", Charge, 0, 1_00),
    ("6531", "6531", Charge, 0, 1_00),
    ("673", "673", Charge, 0, 50),
    ("675", "675", ChargeOrder, 0, 2_00),
    ("752", "752", Produit, 0, 2_00),
    ("7718", "7718", Produit, 0, 1_00),
    ("775", "775", Produit, 0, 3_00),
    ("776", "776", ProduitOrder, 0, 1_00),
    ("777", "777", ProduitOrder, 0, 2_00),
    ("7811", "7811", ProduitOrder, 0, 2_00),
];

/// GFP budget principal (M14 until 2023, M57 from 2024). FPU-style: economic taxes, TEOM,
/// attributions de compensation paid back to the communes (739211, an atténuation de produits).
const GFP: &[Def] = &[
    ("10222", "10222", Receipt, 150_00, 10_00),
    ("1321", "1321", Receipt, 60_00, 6_00),
    ("1341", "1341", Receipt, 30_00, 4_00),
    ("1641", "1641", Debt, 300_00, 30_00),
    ("2041412", "2041412", Asset, 40_00, 8_00),
    ("20422", "20422", Asset, 20_00, 4_00),
    ("2128", "2128", Asset, 30_00, 3_00),
    ("2151", "2151", Asset, 150_00, 12_00),
    ("2313", "2313", AssetWip, 60_00, 40_00),
    ("2764", "2764", LoanGranted, 5_00, 1_00),
    ("28128", "28128", Amort, 10_00, 2_00),
    ("611", "611", Charge, 0, 45_00),
    ("6135", "6135", Charge, 0, 2_00),
    ("615231", "615231", Charge, 0, 4_00),
    ("6411", "6411", Charge, 0, 60_00),
    ("6413", "64131", Charge, 0, 15_00),
    ("6451", "6451", Charge, 0, 18_00),
    ("6453", "6453", Charge, 0, 14_00),
    ("6475", "6475", Charge, 0, 50),
    ("6554", "6554", Charge, 0, 10_00),
    ("6574", "65748", Charge, 0, 8_00),
    (TRANSFER_OUT, TRANSFER_OUT, Charge, 0, 0),
    ("66111", "66111", Charge, 0, 6_00),
    ("6811", "6811", ChargeOrder, 0, 15_00),
    ("7067", "7067", Produit, 0, 5_00),
    ("70878", "70878", Produit, 0, 4_00),
    ("73111", "73111", Produit, 0, 25_00),
    ("73112", "73112", Produit, 0, 110_00),
    ("73113", "73113", Produit, 0, 8_00),
    ("73114", "73114", Produit, 0, 4_00),
    ("7331", "7331", Produit, 0, 85_00),
    ("739211", "739211", Charge, 0, 60_00),
    ("74124", "74124", Produit, 0, 35_00),
    ("74126", "74126", Produit, 0, 15_00),
    ("7478", "7478", Produit, 0, 10_00),
];

/// Département budget principal (M52 until 2023, M57 from 2024): social benefits (RSA, APA,
/// PCH, hébergement), SDIS, collèges, roads; DMTO, TSCA, TICPE, TVA, DGF.
const DEPT: &[Def] = &[
    ("10222", "10222", Receipt, 150_00, 8_00),
    ("1321", "1321", Receipt, 40_00, 4_00),
    ("1641", "1641", DebtActive, 500_00, 45_00),
    ("204142", "204142", Asset, 100_00, 20_00),
    ("20422", "20422", Asset, 40_00, 8_00),
    ("21312", "21312", Asset, 300_00, 10_00),
    ("2151", "2151", Asset, 600_00, 15_00),
    ("2182", "2182", Asset, 20_00, 2_00),
    ("23131", "23131", AssetWip, 50_00, 25_00),
    ("23151", "23151", AssetWip, 100_00, 60_00),
    ("2764", "2764", LoanGranted, 8_00, 2_00),
    ("281312", "281312", Amort, 60_00, 8_00),
    ("28182", "28182", Amort, 8_00, 1_00),
    ("611", "611", Charge, 0, 20_00),
    ("615231", "615231", Charge, 0, 15_00),
    ("6411", "6411", Charge, 0, 120_00),
    ("6413", "64131", Charge, 0, 25_00),
    ("6451", "6451", Charge, 0, 40_00),
    ("6453", "6453", Charge, 0, 35_00),
    ("6511211", "6511211", Charge, 0, 35_00),
    ("651141", "651141", Charge, 0, 45_00),
    ("651144", "651144", Charge, 0, 30_00),
    ("65171", "65131", Charge, 0, 170_00),
    ("65172", "65132", Charge, 0, 20_00),
    ("652412", "652412", Charge, 0, 90_00),
    ("65242", "65242", Charge, 0, 60_00),
    ("65511", "65511", Charge, 0, 15_00),
    ("6553", "6553", Charge, 0, 45_00),
    ("6574", "65748", Charge, 0, 12_00),
    (TRANSFER_OUT, TRANSFER_OUT, Charge, 0, 0),
    ("66111", "66111", Charge, 0, 12_00),
    ("6811", "6811", ChargeOrder, 0, 60_00),
    ("7321", "7321", Produit, 0, 150_00),
    ("7342", "7342", Produit, 0, 110_00),
    ("7352", "7352", Produit, 0, 50_00),
    ("7382", "7382", Produit, 0, 380_00),
    ("7411", "7411", Produit, 0, 140_00),
    ("7473", "7473", Produit, 0, 30_00),
    ("7478", "7478", Produit, 0, 50_00),
    ("74832", "74832", Produit, 0, 15_00),
];

/// Région budget principal (M71 until 2023, M57 from 2024): transport (TER contract 611,
/// interurban and school transport 6245, rolling stock 2182), lycées, formation; TVA, TICPE,
/// cartes grises.
const REG: &[Def] = &[
    ("10222", "10222", Receipt, 100_00, 4_00),
    ("1321", "1321", Receipt, 30_00, 5_00),
    ("1641", "1641", DebtActive, 550_00, 55_00),
    ("204172", "204172", Asset, 40_00, 15_00),
    ("20422", "20422", Asset, 60_00, 25_00),
    ("21312", "21312", Asset, 400_00, 10_00),
    ("2182", "2182", Asset, 80_00, 15_00),
    ("23131", "23131", AssetWip, 80_00, 35_00),
    ("2764", "2764", LoanGranted, 10_00, 3_00),
    ("281312", "281312", Amort, 80_00, 10_00),
    ("28182", "28182", Amort, 30_00, 6_00),
    ("611", "611", Charge, 0, 70_00),
    ("6245", "6245", Charge, 0, 45_00),
    ("6411", "6411", Charge, 0, 40_00),
    ("6413", "64131", Charge, 0, 8_00),
    ("6451", "6451", Charge, 0, 12_00),
    ("6453", "6453", Charge, 0, 10_00),
    ("65511", "65511", Charge, 0, 25_00),
    ("65737", "65737", Charge, 0, 40_00),
    ("6574", "65748", Charge, 0, 15_00),
    ("66111", "66111", Charge, 0, 8_00),
    ("6811", "6811", ChargeOrder, 0, 35_00),
    ("7341", "7341", Produit, 0, 30_00),
    ("7352", "7352", Produit, 0, 60_00),
    ("7382", "7382", Produit, 0, 190_00),
    ("74718", "74718", Produit, 0, 40_00),
    ("7478", "7478", Produit, 0, 20_00),
];

/// Accounts a CTU (Collectivité de Corse, Martinique, Guyane) adds to the région plan: the
/// département competences.
const CTU_EXTRA: &[Def] = &[
    ("6511211", "6511211", Charge, 0, 35_00),
    ("651141", "651141", Charge, 0, 45_00),
    ("651144", "651144", Charge, 0, 30_00),
    ("65171", "65131", Charge, 0, 170_00),
    ("652412", "652412", Charge, 0, 90_00),
    ("6553", "6553", Charge, 0, 45_00),
    ("615231", "615231", Charge, 0, 15_00),
    ("23151", "23151", AssetWip, 100_00, 60_00),
    ("7321", "7321", Produit, 0, 170_00),
    ("7342", "7342", Produit, 0, 120_00),
    ("7411", "7411", Produit, 0, 160_00),
    ("74832", "74832", Produit, 0, 20_00),
];

/// Administrative budget annexe of a GFP or a département (same nomenclature as the
/// principal). Its deficit is covered by the principal through `7552`.
const ANNEX: &[Def] = &[
    ("1641", "1641", Debt, 100_00, 15_00),
    ("2128", "2128", Asset, 40_00, 5_00),
    ("2313", "2313", AssetWip, 20_00, 15_00),
    ("28128", "28128", Amort, 10_00, 2_00),
    ("4011", "4011", ThirdCredit, 3_00, 60_00),
    ("515", "515", Treasury, 10_00, 80_00),
    ("6045", "6045", Charge, 0, 4_00),
    ("6068", "6068", Charge, 0, 3_00),
    ("611", "611", Charge, 0, 20_00),
    ("6411", "6411", Charge, 0, 10_00),
    ("6451", "6451", Charge, 0, 3_00),
    ("66111", "66111", Charge, 0, 3_00),
    ("6811", "6811", ChargeOrder, 0, 4_00),
    ("70688", "70688", Produit, 0, 12_00),
    (TRANSFER_IN, TRANSFER_IN, Produit, 0, 25_00),
];

const GFP_ANNEX_KINDS: &[&str] = &["ZONES D'ACTIVITES", "ATELIERS RELAIS", "SPORTS ET LOISIRS"];
const DEPT_ANNEX_KINDS: &[&str] = &["LABORATOIRE DEPARTEMENTAL", "PARC DEPARTEMENTAL"];

fn build(parts: &[&[Def]]) -> Vec<Account> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for part in parts {
        for &(legacy, m57, kind, stock, flow) in *part {
            if !seen.insert(legacy) {
                continue; // first definition wins (CTU = région plan + département extras)
            }
            out.push(Account {
                m14: legacy.to_string(),
                m57: m57.to_string(),
                kind,
                stock,
                flow,
                key: hash_bytes(0xACC0_0000, legacy.as_bytes()),
            });
        }
    }
    out
}

pub struct LevelGenerator {
    seed: u64,
    gfp: Vec<Account>,
    dept: Vec<Account>,
    reg: Vec<Account>,
    ctu: Vec<Account>,
    annex: Vec<Account>,
}

fn label_of(a: &Account, m57: bool) -> &str {
    if m57 { &a.m57 } else { &a.m14 }
}

/// Nomenclature of every budget of a level: M57 from 2024, the legacy one before.
pub fn nomen(plan: Plan, exer: u16) -> &'static str {
    if exer >= 2024 {
        return "M57";
    }
    match plan {
        Plan::Gfp => "M14",
        Plan::Dept => "M52",
        Plan::Reg | Plan::Ctu => "M71",
    }
}

impl LevelGenerator {
    pub fn new(seed: u64) -> Self {
        LevelGenerator {
            seed,
            gfp: build(&[COMMON, GFP]),
            dept: build(&[COMMON, DEPT]),
            reg: build(&[COMMON, REG]),
            ctu: build(&[COMMON, REG, CTU_EXTRA]),
            annex: build(&[ANNEX]),
        }
    }

    fn plan(&self, p: Plan) -> &[Account] {
        match p {
            Plan::Gfp => &self.gfp,
            Plan::Dept => &self.dept,
            Plan::Reg => &self.reg,
            Plan::Ctu => &self.ctu,
        }
    }

    /// Amount (cents) of the BP → BA transfer of collectivité `siren` in `exer`.
    fn transfer(&self, siren: &str, annex_scale: i64, exer: u16) -> i64 {
        let flow = self
            .annex
            .iter()
            .find(|a| a.m14 == TRANSFER_IN)
            .map_or(0, |a| a.flow);
        let key = hash_bytes(self.seed ^ 0x7A4F, siren.as_bytes());
        amt(flow, annex_scale, &mut Rng::new(combine(key, exer as u64)))
    }

    /// Writes the header and every budget of `cols` for one exercice.
    pub fn write<W: Write>(
        &self,
        cols: &[Collectivite],
        exer: u16,
        out: &mut W,
    ) -> io::Result<Stats> {
        out.write_all(crate::balances::HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        let mut stats = Stats::default();
        let mut line = Vec::with_capacity(256);
        for c in cols {
            let scale = c.population as i64 + 100;
            let annex_scale = scale / 4;
            let t = self.transfer(&c.siren, annex_scale, exer);
            let nomen = nomen(c.plan, exer);
            let m57 = nomen == "M57";
            let mut budgets: Vec<(u32, &[u8], &[Account], i64)> =
                vec![(1, &c.label, self.plan(c.plan), scale)];
            if let Some(l) = &c.annex_label {
                budgets.push((3, l, &self.annex, annex_scale));
            }
            for (cbudg, label, accounts, scale) in budgets {
                let seq = if cbudg == 1 { 1 } else { 2 };
                let ident = siret(&c.siren, seq);
                let bkey = hash_bytes(self.seed, ident.as_bytes());
                let mut prefix = format!("{exer};{ident};{};", c.ndept).into_bytes();
                prefix.extend_from_slice(&csv_field(label.to_vec()));
                prefix.extend_from_slice(
                    format!(
                        ";;{cbudg};{};{};{nomen};{};{};40;;;;{};DEF;;",
                        c.ctype, c.cstyp, c.siren, c.cregi, c.categ
                    )
                    .as_bytes(),
                );
                let mut sel: Vec<&Account> = accounts
                    .iter()
                    .filter(|a| c.annex_label.is_some() || a.m14 != TRANSFER_OUT)
                    .collect();
                sel.sort_by(|a, b| label_of(a, m57).cmp(label_of(b, m57)));
                if cbudg == 1 {
                    stats.principal_budgets += 1;
                } else {
                    stats.annex_budgets += 1;
                }
                for acc in sel {
                    let a = if acc.m14 == TRANSFER_OUT {
                        [0, 0, t, 0, 0, 0, 0, 0, t, 0]
                    } else if acc.m14 == TRANSFER_IN {
                        [0, 0, 0, t, 0, 0, 0, 0, 0, t]
                    } else {
                        row_amounts(acc, scale, combine(bkey, acc.key), exer)
                    };
                    line.clear();
                    line.extend_from_slice(&prefix);
                    line.extend_from_slice(label_of(acc, m57).as_bytes());
                    for v in a {
                        line.push(b';');
                        push_cents(&mut line, v);
                    }
                    line.push(b'\n');
                    out.write_all(&line)?;
                    stats.rows += 1;
                }
            }
        }
        Ok(stats)
    }
}

/// Selected département codes: the given list, or every département with a DGFiP code.
fn selected_deps(geo: &Geo, deps: &Option<Vec<String>>) -> Vec<String> {
    match deps {
        Some(list) => list.clone(),
        None => geo
            .departements
            .keys()
            .filter(|d| ndept(d).is_ok())
            .cloned()
            .collect(),
    }
}

fn region_of_dep(geo: &Geo, dep: &str) -> Result<String, String> {
    geo.departements
        .get(dep)
        .map(|d| d.region.clone())
        .ok_or_else(|| format!("département {dep:?} not in the départements file"))
}

fn label(s: &str) -> Vec<u8> {
    encode_cp1252(&dgfip_label(s))
}

/// EPCI à fiscalité propre with at least one member commune in the selected départements,
/// in SIREN order. About 1 in 3 gets a budget annexe (deterministic per SIREN).
pub fn select_gfp(
    geo: &Geo,
    deps: &Option<Vec<String>>,
    seed: u64,
) -> Result<Vec<Collectivite>, String> {
    let wanted: BTreeSet<String> = selected_deps(geo, deps).into_iter().collect();
    let mut out = Vec::new();
    for e in &geo.epci {
        let member_deps: Vec<String> = e.membres.iter().map(|m| geo.departement_of(m)).collect();
        if !member_deps.iter().any(|d| wanted.contains(d)) {
            continue;
        }
        let first = member_deps
            .first()
            .ok_or_else(|| format!("EPCI {} has no member", e.siren))?;
        let cstyp = match e.nature.as_str() {
            "CC" => "01",
            "CA" => "02",
            "CU" => "03",
            "METRO" | "ME" => "04",
            "MET69" => "05",
            other => return Err(format!("EPCI {}: unknown type {other:?}", e.siren)),
        };
        let h = hash_bytes(seed ^ 0x6F90, e.siren.as_bytes());
        let base = label(&e.nom);
        let annex_label = h.is_multiple_of(3).then(|| {
            let kind = GFP_ANNEX_KINDS[((h >> 8) % GFP_ANNEX_KINDS.len() as u64) as usize];
            let mut l = encode_cp1252(kind);
            l.push(b' ');
            l.extend_from_slice(&base);
            l
        });
        out.push(Collectivite {
            plan: Plan::Gfp,
            categ: "GFP",
            ctype: "401",
            cstyp,
            siren: e.siren.clone(),
            label: base,
            annex_label,
            ndept: ndept(first)?,
            cregi: cregi(&region_of_dep(geo, first)?)?,
            population: e.population,
        });
    }
    Ok(out)
}

/// Selected départements that have their own accounts (`CATEG = DEPT` in
/// `collectivites-siren.csv`; 2A/2B, 972 and 973 are CTU and go to the régions file), in code
/// order, each with one budget annexe.
pub fn select_departements(
    geo: &Geo,
    deps: &Option<Vec<String>>,
    seed: u64,
) -> Result<Vec<Collectivite>, String> {
    let mut codes = selected_deps(geo, deps);
    codes.sort();
    codes.dedup();
    let mut out = Vec::new();
    for dep in codes {
        let Some(s) = geo
            .dep_sirens
            .iter()
            .find(|s| s.insee == dep && s.categ == "DEPT")
        else {
            continue;
        };
        let d = geo
            .departements
            .get(&dep)
            .ok_or_else(|| format!("département {dep:?} not in the départements file"))?;
        let h = hash_bytes(seed ^ 0xDE97, s.siren.as_bytes());
        let name = label(&d.nom);
        let mut annex =
            encode_cp1252(DEPT_ANNEX_KINDS[((h >> 8) % DEPT_ANNEX_KINDS.len() as u64) as usize]);
        annex.push(b' ');
        annex.extend_from_slice(&name);
        let mut bp = b"DEP ".to_vec();
        bp.extend_from_slice(&name);
        out.push(Collectivite {
            plan: Plan::Dept,
            categ: "DEPT",
            ctype: "201",
            cstyp: "00",
            siren: s.siren.clone(),
            label: bp,
            annex_label: Some(annex),
            ndept: ndept(&dep)?,
            cregi: cregi(&d.region)?,
            population: geo.population_departement(&dep),
        });
    }
    Ok(out)
}

/// Régions (`REG`) and CTU (`CTU`, e.g. the Collectivité de Corse) of the selected
/// départements, in code order, budget principal only.
pub fn select_regions(geo: &Geo, deps: &Option<Vec<String>>) -> Result<Vec<Collectivite>, String> {
    let mut regs = BTreeSet::new();
    for dep in selected_deps(geo, deps) {
        regs.insert(region_of_dep(geo, &dep)?);
    }
    let mut out = Vec::new();
    for reg in regs {
        let Some(s) = geo.reg_sirens.iter().find(|s| s.insee == reg) else {
            eprintln!("oc-gen: région {reg}: no SIREN in collectivites-siren.csv, skipped");
            continue;
        };
        let r = geo
            .regions
            .get(&reg)
            .ok_or_else(|| format!("région {reg:?} not in the régions file"))?;
        let chef_dep = geo.departement_of(&r.chef_lieu);
        let (plan, categ, ctype, prefix) = match s.categ.as_str() {
            "REG" => (Plan::Reg, "REG", "301", "REG "),
            "CTU" => (Plan::Ctu, "CTU", "302", "COLLECTIVITE DE "),
            other => return Err(format!("région {reg}: unknown CATEG {other:?}")),
        };
        let mut l = encode_cp1252(prefix);
        l.extend_from_slice(&label(&r.nom));
        out.push(Collectivite {
            plan,
            categ,
            ctype,
            cstyp: "00",
            siren: s.siren.clone(),
            label: l,
            annex_label: None,
            ndept: ndept(&chef_dep)?,
            cregi: cregi(&reg)?,
            population: geo.population_region(&reg),
        });
    }
    Ok(out)
}

/// Collectivités of a level.
pub fn select(
    level: Level,
    geo: &Geo,
    deps: &Option<Vec<String>>,
    seed: u64,
) -> Result<Vec<Collectivite>, String> {
    match level {
        Level::Gfp => select_gfp(geo, deps, seed),
        Level::Departements => select_departements(geo, deps, seed),
        Level::Regions => select_regions(geo, deps),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::geo::GeoPaths;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    pub fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    pub fn sample_geo() -> Geo {
        Geo::load(&GeoPaths::in_dir(&repo().join("data/samples/geo"), "2026")).unwrap()
    }

    pub fn deps() -> Option<Vec<String>> {
        Some(vec!["2A".into(), "90".into(), "971".into()])
    }

    fn cents(s: &str) -> i64 {
        let (e, d) = s.split_once(',').unwrap();
        assert_eq!(d.len(), 2, "{s}");
        e.parse::<i64>().unwrap() * 100 + d.parse::<i64>().unwrap()
    }

    /// (fields, amounts) of every data row.
    fn rows(buf: &[u8]) -> Vec<(Vec<String>, [i64; 10])> {
        let (text, _, err) = encoding_rs::WINDOWS_1252.decode(buf);
        assert!(!err && !text.contains('\r'));
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), crate::balances::HEADER);
        lines
            .map(|l| {
                let f: Vec<String> = l.split(';').map(String::from).collect();
                assert_eq!(f.len(), 29, "{l}");
                let mut v = [0; 10];
                for (k, s) in f[19..].iter().enumerate() {
                    v[k] = cents(s);
                }
                (f, v)
            })
            .collect()
    }

    fn generate(level: Level, exer: u16) -> (Vec<Collectivite>, Vec<u8>, Stats) {
        let geo = sample_geo();
        let cols = select(level, &geo, &deps(), 20260101).unwrap();
        let mut buf = Vec::new();
        let stats = LevelGenerator::new(20260101)
            .write(&cols, exer, &mut buf)
            .unwrap();
        (cols, buf, stats)
    }

    #[test]
    fn identity_and_codes_on_every_level() {
        for level in [Level::Gfp, Level::Departements, Level::Regions] {
            for exer in [2023u16, 2024] {
                let (cols, buf, stats) = generate(level, exer);
                let rows = rows(&buf);
                assert_eq!(rows.len() as u64, stats.rows);
                assert!(!rows.is_empty());
                let mut transfers: BTreeMap<String, (i64, i64)> = BTreeMap::new();
                for (f, v) in &rows {
                    let [bedeb, becre, obd, obc, onbd, onbc, oobd, oobc, sd, sc] = *v;
                    assert_eq!(
                        sd - sc,
                        (bedeb - becre) + (obd - obc) + (onbd - onbc),
                        "{f:?}"
                    );
                    assert!(v.iter().all(|&x| x >= 0), "{f:?}");
                    assert!(oobd <= obd && oobc <= obc, "{f:?}");
                    assert!(sd == 0 || sc == 0, "{f:?}");
                    let compte = &f[18];
                    if compte.starts_with('6') || compte.starts_with('7') {
                        assert_eq!((bedeb, becre), (0, 0), "{f:?}");
                    }
                    assert_eq!(f[0], exer.to_string());
                    assert_eq!(f[4], "", "INSEE empty for {level:?}");
                    assert!(f[5] == "1" || f[5] == "3");
                    assert_eq!(f[2].len(), 3);
                    assert_eq!(f[10].len(), 3);
                    assert!(crate::balances::luhn_digit(&f[1][..13]) == f[1].as_bytes()[13] - b'0');
                    let categ = f[15].as_str();
                    let expected_nomen = match (categ, exer) {
                        (_, 2024) => "M57",
                        ("GFP", _) => "M14",
                        ("DEPT", _) => "M52",
                        ("REG" | "CTU", _) => "M71",
                        _ => panic!("CATEG {categ}"),
                    };
                    assert_eq!(f[8], expected_nomen, "{f:?}");
                    match level {
                        Level::Gfp => assert_eq!((categ, &*f[6]), ("GFP", "401")),
                        Level::Departements => assert_eq!((categ, &*f[6]), ("DEPT", "201")),
                        Level::Regions => {
                            assert!([("REG", "301"), ("CTU", "302")].contains(&(categ, &*f[6])))
                        }
                    }
                    let t = transfers.entry(f[9].clone()).or_default();
                    if compte == TRANSFER_OUT {
                        assert_eq!(f[5], "1");
                        t.0 += obd;
                    }
                    if compte == TRANSFER_IN {
                        assert_eq!(f[5], "3");
                        t.1 += obc;
                    }
                }
                // BP → BA transfer: same amount on both sides.
                for (siren, (out, inn)) in transfers {
                    assert_eq!(out, inn, "{siren}");
                }
                // accounts sorted and unique within a budget
                for w in rows.windows(2) {
                    if w[0].0[1] == w[1].0[1] {
                        assert!(w[0].0[18] < w[1].0[18]);
                    }
                }
                match level {
                    Level::Gfp => {
                        assert_eq!(cols.len(), 16);
                        let annexes = cols.iter().filter(|c| c.annex_label.is_some()).count();
                        assert!((3..=8).contains(&annexes), "{annexes}");
                    }
                    Level::Departements => {
                        let s: Vec<&str> = cols.iter().map(|c| c.siren.as_str()).collect();
                        assert_eq!(s, ["229000013", "229710017"]); // 90, 971 (2A → CTU)
                    }
                    Level::Regions => {
                        let s: Vec<(&str, &str)> =
                            cols.iter().map(|c| (c.siren.as_str(), c.categ)).collect();
                        assert_eq!(
                            s,
                            [
                                ("239710015", "REG"),
                                ("200053726", "REG"),
                                ("200076958", "CTU")
                            ]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn deterministic_and_chained_from_2023_to_2024() {
        for level in [Level::Gfp, Level::Departements, Level::Regions] {
            let (_, a, _) = generate(level, 2024);
            let (_, b, _) = generate(level, 2024);
            assert_eq!(a, b);
            let (_, p, _) = generate(level, 2023);
            let r23: BTreeMap<(String, String), [i64; 10]> = rows(&p)
                .into_iter()
                .map(|(f, v)| ((f[1].clone(), f[18].clone()), v))
                .collect();
            let mut checked = 0;
            for (f, v) in rows(&a) {
                if f[18].starts_with('6') || f[18].starts_with('7') {
                    continue;
                }
                let q = r23[&(f[1].clone(), f[18].clone())];
                assert_eq!((q[8], q[9]), (v[0], v[1]), "{f:?}");
                checked += 1;
            }
            assert!(checked > 30, "{level:?} {checked}");
        }
    }

    #[test]
    fn populations_scale_amounts() {
        let geo = sample_geo();
        let regs = select(Level::Regions, &geo, &deps(), 1).unwrap();
        let bfc = regs.iter().find(|c| c.siren == "200053726").unwrap();
        assert_eq!(bfc.population, geo.population_region("27"));
        assert!(bfc.population > 2_000_000);
        let deps_ = select(Level::Departements, &geo, &deps(), 1).unwrap();
        assert_eq!(deps_[0].population, geo.population_departement("90"));
        assert_eq!(deps_[0].label, b"DEP TERRITOIRE DE BELFORT");
        assert_eq!(
            (deps_[0].ndept.as_str(), deps_[0].cregi.as_str()),
            ("090", "027")
        );
        assert_eq!(
            (deps_[1].ndept.as_str(), deps_[1].cregi.as_str()),
            ("101", "001")
        );
        let corse = regs.iter().find(|c| c.categ == "CTU").unwrap();
        assert_eq!(corse.label, b"COLLECTIVITE DE CORSE");
        assert_eq!(corse.ndept, "02A");
    }
}
