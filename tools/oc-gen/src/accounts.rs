//! Account plans used by the generator: a realistic subset of the M14/M57 plan (commune budgets
//! principaux) and of the M4/M49 plan (budgets annexes: water, sanitation, SPIC), each extended
//! with plausible sub-accounts so that benchmarks can draw ~300 accounts per budget.
//!
//! Account numbers are always strings (2–8 digits). Nothing here is real financial data.

// Amounts are written `euros_cents` (e.g. `800_00` = 800,00 € per inhabitant).
#![allow(clippy::inconsistent_digit_grouping)]

use std::collections::BTreeSet;

use crate::rng::hash_bytes;

/// Accounting behaviour of an account (drives which columns get amounts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Class 6, real operations: mostly debit movements, rare cancellations.
    Charge,
    /// Class 6 order operations (6811, 675, 68xx): OOBDEB = OBNETDEB.
    ChargeOrder,
    /// Class 7, real operations: mostly credit movements.
    Produit,
    /// Class 7 order operations (7811, 7768, 776, 777): OOBCRE = OBNETCRE.
    ProduitOrder,
    /// Class 1 equity/grants: credit opening balance, credit movements.
    Equity,
    /// 16x loans: credit opening balance, debit = repayments, credit = new loans.
    Debt,
    /// 165 deposits received.
    Deposit,
    /// Class 2/3 fixed assets: debit opening, acquisitions, some order cessions / integrations.
    Asset,
    /// 23xx works in progress: integrated into 21xx through non-budgetary operations.
    AssetWip,
    /// 238 advances: debit real, credit order.
    Advance,
    /// 28xx/29xx/39xx/49xx depreciation & provisions: credit order movements.
    Amort,
    /// 515 treasury (and class 5): non-budgetary movements only.
    Treasury,
    /// Third-party accounts normally in credit (401, 42x, 43x, 44x…): non-budgetary.
    ThirdCredit,
    /// Third-party accounts normally in debit (411, 45x, 48x…): non-budgetary.
    ThirdDebit,
    // The kinds below are only used by the GFP / département / région plans (`levels.rs`).
    /// Class 1 receipts (10222 FCTVA, 13x grants): credit opening, real credit every year.
    Receipt,
    /// 16x loans of a large collectivité: repayments and new loans every year.
    DebtActive,
    /// 27x loans granted: debit opening, real debit = new loans, real credit = repayments.
    LoanGranted,
}

impl Kind {
    /// Whether the account carries a balance from one year to the next (classes 1–5).
    pub fn has_stock(self) -> bool {
        !matches!(
            self,
            Kind::Charge | Kind::ChargeOrder | Kind::Produit | Kind::ProduitOrder
        )
    }
}

/// One account of a plan. `m14`/`m57` are the labels used under each nomenclature (identical
/// except for a few accounts renumbered by M57; identical for M4x plans).
#[derive(Clone, Debug)]
pub struct Account {
    pub m14: String,
    pub m57: String,
    pub kind: Kind,
    /// Typical opening balance, in cents per inhabitant.
    pub stock: i64,
    /// Typical yearly movement, in cents per inhabitant.
    pub flow: i64,
    /// Stable per-account hash (from the M14 label) used to derive per-row seeds.
    pub key: u64,
}

/// A plan: accounts, the ones every budget has, and lexicographic ranks per label set.
#[derive(Debug)]
pub struct Universe {
    pub accounts: Vec<Account>,
    pub mandatory: Vec<u16>,
    /// Optional accounts of the hand-written base plan (drawn first: the common accounts).
    pub optional_base: Vec<u16>,
    /// Other optional accounts (extra real numbers and generated sub-accounts).
    pub optional_rest: Vec<u16>,
    /// rank of account i in lexicographic order of its M14 label / M57 label.
    pub rank_m14: Vec<u16>,
    pub rank_m57: Vec<u16>,
}

use Kind::*;

/// (M14 label, M57 label, kind, stock €cents/hab, flow €cents/hab)
type Def = (&'static str, &'static str, Kind, i64, i64);

/// Commune budget principal (M14 until 2023, M57 from 2024).
const PRINCIPAL_BASE: &[Def] = &[
    ("1021", "1021", Equity, 200_00, 0),
    ("10222", "10222", Equity, 250_00, 12_00),
    ("1068", "1068", Equity, 900_00, 70_00),
    ("1641", "1641", Debt, 800_00, 90_00),
    ("165", "165", Deposit, 2_00, 30),
    ("2031", "2031", Asset, 15_00, 3_00),
    ("2111", "2111", Asset, 300_00, 5_00),
    ("2128", "2128", Asset, 40_00, 3_00),
    ("21311", "21311", Asset, 150_00, 4_00),
    ("2151", "2151", Asset, 400_00, 25_00),
    ("2183", "2183", Asset, 20_00, 3_00),
    ("2313", "2313", AssetWip, 80_00, 90_00),
    ("238", "238", Advance, 5_00, 4_00),
    ("28041412", "28041412", Amort, 10_00, 2_00),
    ("4011", "4011", ThirdCredit, 8_00, 900_00),
    ("4111", "4111", ThirdDebit, 3_00, 25_00),
    ("515", "515", Treasury, 180_00, 1500_00),
    ("60611", "60611", Charge, 0, 8_00),
    ("60622", "60622", Charge, 0, 5_00),
    ("6064", "6064", Charge, 0, 3_00),
    ("6068", "6068", Charge, 0, 10_00),
    ("611", "611", Charge, 0, 30_00),
    ("6135", "6135", Charge, 0, 5_00),
    ("615221", "615221", Charge, 0, 10_00),
    ("6161", "6161", Charge, 0, 6_00),
    ("6226", "6226", Charge, 0, 3_00),
    ("6231", "6231", Charge, 0, 1_00),
    ("6262", "6262", Charge, 0, 3_00),
    ("6281", "6281", Charge, 0, 1_00),
    ("63512", "63512", Charge, 0, 2_00),
    ("6411", "6411", Charge, 0, 300_00),
    ("6413", "64131", Charge, 0, 60_00),
    ("6451", "6451", Charge, 0, 60_00),
    ("6453", "6453", Charge, 0, 75_00),
    ("6531", "6531", Charge, 0, 15_00),
    ("6541", "6541", Charge, 0, 50),
    ("65548", "65548", Charge, 0, 10_00),
    ("657362", "657362", Charge, 0, 15_00),
    ("6574", "65748", Charge, 0, 25_00),
    ("66111", "66111", Charge, 0, 20_00),
    ("6688", "6688", Charge, 0, 50),
    ("673", "673", Charge, 0, 1_00),
    ("6811", "6811", ChargeOrder, 0, 40_00),
    ("70311", "70311", Produit, 0, 1_00),
    ("70632", "70632", Produit, 0, 10_00),
    ("7067", "7067", Produit, 0, 15_00),
    ("7083", "7083", Produit, 0, 3_00),
    ("73111", "73111", Produit, 0, 450_00),
    ("73211", "73211", Produit, 0, 100_00),
    ("7381", "7381", Produit, 0, 30_00),
    ("74111", "74111", Produit, 0, 150_00),
    ("74121", "74121", Produit, 0, 50_00),
    ("74127", "74127", Produit, 0, 10_00),
    ("744", "744", Produit, 0, 2_00),
    ("7478", "7478", Produit, 0, 20_00),
    ("7482", "7482", Produit, 0, 3_00),
    ("752", "752", Produit, 0, 10_00),
    ("7718", "7718", Produit, 0, 1_00),
    ("775", "775", Produit, 0, 10_00),
    ("7768", "7768", ProduitOrder, 0, 2_00),
    ("7811", "7811", ProduitOrder, 0, 3_00),
];

pub const PRINCIPAL_MANDATORY: &[&str] = &[
    "1641", "6411", "60611", "73111", "74111", "2313", "6811", "7811", "515",
];

/// More real M14/M57 account numbers (kind inferred from the number).
const PRINCIPAL_EXTRA: &[&str] = &[
    "10226", "1311", "1312", "1313", "1321", "1322", "1323", "1328", "1341", "1342", "1346",
    "1383", "1388", "1681", "1687", "1688", "2041412", "2041582", "20422", "2051", "2112", "2113",
    "2115", "2116", "2118", "2121", "21312", "21316", "21318", "2132", "2135", "2138", "2152",
    "21534", "21538", "21568", "21578", "2158", "2168", "2181", "2182", "2184", "2188", "2312",
    "2315", "2318", "261", "266", "271", "2764", "27638", "28031", "28041582", "280422", "28051",
    "28121", "28128", "281318", "28132", "28135", "28138", "281534", "281568", "281578", "28158",
    "28181", "28182", "28183", "28184", "28188", "401", "4041", "4081", "4084", "4091", "4116",
    "4141", "4146", "4161", "421", "4311", "4313", "4372", "44311", "4452", "44566", "44571",
    "4462", "4541", "4581", "466", "4672", "4686", "4711", "4718", "4721", "4728", "4731", "4741",
    "4758", "4761", "4816", "486", "487", "541", "581", "60612", "60613", "60621", "60623",
    "60624", "60628", "60631", "60632", "60636", "6065", "6067", "6074", "6122", "6132", "6156",
    "61551", "61558", "6168", "617", "6182", "6184", "6185", "6188", "6225", "6227", "6228",
    "6232", "6233", "6236", "6237", "6238", "6241", "6247", "6251", "6256", "6257", "6261", "6282",
    "6283", "6284", "6288", "62875", "62876", "6332", "6336", "6338", "63513", "637", "64111",
    "64112", "64118", "64168", "6417", "6454", "6455", "6456", "6458", "6475", "6488", "6532",
    "6533", "6534", "6535", "6536", "65541", "6558", "65737", "658", "6615", "6618", "6711",
    "6714", "6718", "6745", "675", "676", "6815", "6817", "6875", "739211", "739223", "7391171",
    "7022", "70321", "70323", "70388", "7062", "70631", "70688", "70846", "70848", "70873",
    "70876", "70878", "7088", "7311", "73112", "73113", "73114", "73221", "73223", "7331", "7336",
    "7337", "7343", "7351", "7362", "7364", "7368", "7388", "74112", "74718", "7472", "7473",
    "7474", "7476", "74832", "74834", "74835", "7488", "7513", "7518", "7522", "7588", "7621",
    "7711", "7713", "7714", "7788", "776", "777", "7815", "7817", "7875",
];

/// Budget annexe, M4 / M49 (water, sanitation, SPIC).
const ANNEX_BASE: &[Def] = &[
    ("1068", "1068", Equity, 100_00, 10_00),
    ("131", "131", Equity, 150_00, 10_00),
    ("1641", "1641", Debt, 300_00, 30_00),
    ("165", "165", Deposit, 50, 10),
    ("2031", "2031", Asset, 5_00, 1_00),
    ("2111", "2111", Asset, 20_00, 50),
    ("2156", "2156", Asset, 120_00, 6_00),
    ("21531", "21531", Asset, 200_00, 8_00),
    ("21532", "21532", Asset, 250_00, 10_00),
    ("2315", "2315", AssetWip, 30_00, 25_00),
    ("28156", "28156", Amort, 60_00, 5_00),
    ("281531", "281531", Amort, 90_00, 7_00),
    ("281532", "281532", Amort, 110_00, 8_00),
    ("4011", "4011", ThirdCredit, 3_00, 120_00),
    ("4111", "4111", ThirdDebit, 8_00, 110_00),
    ("515", "515", Treasury, 40_00, 250_00),
    ("6061", "6061", Charge, 0, 6_00),
    ("6063", "6063", Charge, 0, 3_00),
    ("6068", "6068", Charge, 0, 2_00),
    ("611", "611", Charge, 0, 25_00),
    ("6152", "6152", Charge, 0, 8_00),
    ("6156", "6156", Charge, 0, 4_00),
    ("618", "618", Charge, 0, 1_00),
    ("6226", "6226", Charge, 0, 1_00),
    ("6371", "6371", Charge, 0, 2_00),
    ("6411", "6411", Charge, 0, 20_00),
    ("6451", "6451", Charge, 0, 8_00),
    ("658", "658", Charge, 0, 50),
    ("66111", "66111", Charge, 0, 9_00),
    ("6811", "6811", ChargeOrder, 0, 20_00),
    ("701241", "701241", Produit, 0, 6_00),
    ("70611", "70611", Produit, 0, 60_00),
    ("70128", "70128", Produit, 0, 2_00),
    ("7068", "7068", Produit, 0, 3_00),
    ("704", "704", Produit, 0, 4_00),
    ("706129", "706129", Charge, 0, 5_00),
    ("741", "741", Produit, 0, 2_00),
    ("747", "747", Produit, 0, 3_00),
    ("777", "777", ProduitOrder, 0, 4_00),
    ("7811", "7811", ProduitOrder, 0, 1_00),
];

pub const ANNEX_MANDATORY: &[&str] = &["1641", "515", "6811", "7811", "2315", "6061", "70611"];

const ANNEX_EXTRA: &[&str] = &[
    "2154", "2155", "21561", "21562", "21538", "2158", "2181", "2182", "2183", "2184", "2188",
    "2313", "2318", "281561", "281562", "28158", "28181", "28182", "28183", "28188", "4081",
    "4091", "4116", "4416", "4452", "44566", "44571", "4581", "466", "4672", "4718", "4721",
    "60611", "60612", "60621", "60622", "6064", "6066", "6135", "61521", "61523", "61528", "6161",
    "6163", "6182", "6231", "6261", "6262", "6281", "6287", "6354", "6413", "6453", "6541", "6542",
    "6588", "6611", "6688", "673", "675", "6817", "7011", "70111", "70612", "70613", "7062",
    "7063", "7064", "7083", "7084", "7087", "7088", "7472", "7473", "7474", "7478", "752", "7588",
    "7711", "7718", "775", "776", "7815",
];

/// Size the plans are extended to (benchmarks use `--accounts 300`).
pub const UNIVERSE_TARGET: usize = 330;

/// Kind of an account inferred from its number (for the extra / generated accounts).
pub fn kind_of(code: &str) -> Kind {
    let p = |s: &str| code.starts_with(s);
    if p("28") || p("29") || p("39") || p("49") || p("59") {
        Amort
    } else if p("165") {
        Deposit
    } else if p("16") {
        Debt
    } else if p("1") {
        Equity
    } else if p("238") {
        Advance
    } else if p("23") {
        AssetWip
    } else if p("2") || p("3") {
        Asset
    } else if p("40") || p("42") || p("43") || p("44") || p("46") || p("47") {
        ThirdCredit
    } else if p("4") {
        ThirdDebit
    } else if p("5") {
        Treasury
    } else if p("68") || p("675") || p("676") {
        ChargeOrder
    } else if p("6") || p("739") {
        Charge
    } else if p("78") || p("776") || p("777") || p("722") {
        ProduitOrder
    } else {
        Produit
    }
}

/// Deterministic per-capita magnitudes (cents/inhabitant) for an inferred account.
fn magnitudes(kind: Kind, code: &str) -> (i64, i64) {
    let h = hash_bytes(0x5EED_ACC0, code.as_bytes());
    let r = |lo: i64, hi: i64, salt: u32| lo + ((h >> salt) % (hi - lo + 1) as u64) as i64;
    match kind {
        Charge | Produit => (0, r(20, 500, 0)),
        ChargeOrder | ProduitOrder => (0, r(50, 300, 0)),
        Equity | Receipt => (r(500, 5000, 0), r(0, 300, 20)),
        Debt | DebtActive => (r(1000, 10000, 0), r(0, 1000, 20)),
        Deposit => (r(10, 200, 0), r(5, 50, 20)),
        Asset | LoanGranted => (r(500, 5000, 0), r(50, 500, 20)),
        AssetWip => (r(200, 2000, 0), r(200, 2000, 20)),
        Advance => (r(50, 500, 0), r(50, 400, 20)),
        Amort => (r(300, 3000, 0), r(50, 300, 20)),
        Treasury => (r(10, 100, 0), r(100, 1000, 20)),
        ThirdCredit | ThirdDebit => (r(50, 500, 0), r(500, 5000, 20)),
    }
}

fn account(m14: &str, m57: &str, kind: Kind, stock: i64, flow: i64) -> Account {
    Account {
        m14: m14.to_string(),
        m57: m57.to_string(),
        kind,
        stock,
        flow,
        key: hash_bytes(0xACC0_0000, m14.as_bytes()),
    }
}

fn build(base: &[Def], extra: &[&str], mandatory: &[&str]) -> Universe {
    let mut accounts: Vec<Account> = Vec::new();
    // Every label used by any nomenclature: keeps labels unique within each label set.
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for &(m14, m57, kind, stock, flow) in base {
        assert!(taken.insert(m14.to_string()), "duplicate account {m14}");
        if m57 != m14 {
            assert!(taken.insert(m57.to_string()), "duplicate account {m57}");
        }
        accounts.push(account(m14, m57, kind, stock, flow));
    }
    for &code in extra {
        if taken.insert(code.to_string()) {
            let kind = kind_of(code);
            let (stock, flow) = magnitudes(kind, code);
            accounts.push(account(code, code, kind, stock, flow));
        }
    }
    // Plausible sub-accounts: append one digit to 4–6 digit accounts of classes 2, 6, 7.
    let parents: Vec<String> = accounts
        .iter()
        .filter(|a| {
            let c = a.m14.as_bytes();
            (4..=6).contains(&c.len())
                && matches!(c[0], b'2' | b'6' | b'7')
                && !a.m14.starts_with("28")
                // not renumbered accounts (children of 6574 could clash with M57 65748)
                && a.m14 == a.m57
        })
        .map(|a| a.m14.clone())
        .collect();
    'fill: for digit in 1..=8u8 {
        for parent in &parents {
            if accounts.len() >= UNIVERSE_TARGET {
                break 'fill;
            }
            let code = format!("{parent}{digit}");
            if taken.insert(code.clone()) {
                let kind = kind_of(&code);
                let (stock, flow) = magnitudes(kind, &code);
                accounts.push(account(&code, &code, kind, stock, flow));
            }
        }
    }
    let index_of = |code: &str| {
        accounts
            .iter()
            .position(|a| a.m14 == code)
            .unwrap_or_else(|| panic!("no account {code}")) as u16
    };
    let mandatory: Vec<u16> = mandatory.iter().map(|c| index_of(c)).collect();
    let (optional_base, optional_rest): (Vec<u16>, Vec<u16>) = (0..accounts.len() as u16)
        .filter(|i| !mandatory.contains(i))
        .partition(|&i| (i as usize) < base.len());
    let ranks = |label: fn(&Account) -> &str| {
        let mut order: Vec<usize> = (0..accounts.len()).collect();
        order.sort_by(|&a, &b| label(&accounts[a]).cmp(label(&accounts[b])));
        let mut rank = vec![0u16; accounts.len()];
        for (r, i) in order.into_iter().enumerate() {
            rank[i] = r as u16;
        }
        rank
    };
    let rank_m14 = ranks(|a| &a.m14);
    let rank_m57 = ranks(|a| &a.m57);
    Universe {
        accounts,
        mandatory,
        optional_base,
        optional_rest,
        rank_m14,
        rank_m57,
    }
}

pub fn principal() -> Universe {
    build(PRINCIPAL_BASE, PRINCIPAL_EXTRA, PRINCIPAL_MANDATORY)
}

pub fn annex() -> Universe {
    build(ANNEX_BASE, ANNEX_EXTRA, ANNEX_MANDATORY)
}
