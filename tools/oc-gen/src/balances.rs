//! SYNTHETIC DGFiP "balances comptables des communes" in the bulk-file format
//! (windows-1252, `;`, LF, decimal comma, 29 upper-case columns).
//!
//! Identifiers (INSEE codes, SIREN, names, population) are real, taken from the COG geography
//! file; budgets' NICs and every amount are synthetic. Amounts are integer cents internally and
//! satisfy the DGFiP identity exactly on every row:
//! `SD − SC = (BEDEB − BECRE) + (OBNETDEB − OBNETCRE) + (ONBDEB − ONBCRE)`.

use std::io::{self, Write};

use crate::accounts::{self, Account, Kind, Universe};
use crate::rng::{Rng, combine, hash_bytes};

pub const HEADER: &str = "EXER;IDENT;NDEPT;LBUDG;INSEE;CBUDG;CTYPE;CSTYP;NOMEN;SIREN;CREGI;CACTI;\
SECTEUR;FINESS;CODBUD1;CATEG;BAL;FONCTION;COMPTE;BEDEB;BECRE;OBNETDEB;OBNETCRE;ONBDEB;ONBCRE;\
OOBDEB;OOBCRE;SD;SC";

/// Balances before this year are simulated from a generated opening balance; later years chain
/// (BE of year N = closing balance of year N−1, for classes 1–5).
const BASE_YEAR: u16 = 2012;

/// A commune of the geography file (type `commune-actuelle`).
pub use crate::geo::GeoCommune as Commune;

#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// Accounts per budget (capped at the size of the plan, ~330).
    pub accounts: usize,
    /// Exact number of data rows per file (benchmarks); `None` = one pass over the communes.
    pub rows: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rows: u64,
    pub principal_budgets: u64,
    pub annex_budgets: u64,
}

/// Commune with its DGFiP codes computed once.
#[derive(Clone, Debug)]
pub struct Prepared {
    code: String,
    siren: String,
    ndept: String,
    insee: String,
    cregi: String,
    /// DGFiP label (upper case, no accents), windows-1252 bytes, CSV-quoted if needed.
    label: Vec<u8>,
    population: u64,
}

/// Budget annexe kinds: (label prefix, nomenclature). The first ones are used for the
/// "1 commune in 4 has an annexe" pass; benchmarks (`--rows`) cycle through all of them.
const ANNEX_KINDS: &[(&str, &str)] = &[
    ("ASSAINISSEMENT", "M49"),
    ("EAU", "M49"),
    ("EAU ET ASSAINISSEMENT", "M49"),
    ("CAMPING MUNICIPAL", "M4"),
    ("TRANSPORTS SCOLAIRES", "M43"),
    ("PORT DE PLAISANCE", "M4"),
    ("SPANC", "M49"),
    ("CHAUFFERIE BOIS", "M4"),
    ("ABATTOIR", "M4"),
    ("PARC DE STATIONNEMENT", "M4"),
    ("REGIE ELECTRICITE", "M41"),
];
const FIRST_PASS_ANNEX_KINDS: usize = 4;

/// 3-character DGFiP département code: `0` + 2-char code in metropolitan France (`090`, `02A`),
/// `101`…`106` for 971…976.
pub fn ndept(dep: &str) -> Result<String, String> {
    let b = dep.as_bytes();
    match b.len() {
        2 if b.iter().all(|c| c.is_ascii_alphanumeric()) => Ok(format!("0{dep}")),
        3 if b[0] == b'9' && b[1] == b'7' && (b'1'..=b'6').contains(&b[2]) => {
            Ok(format!("10{}", b[2] as char))
        }
        _ => Err(format!(
            "département {dep:?} has no DGFiP 3-character code (only metropolitan and 971–976)"
        )),
    }
}

/// Région on 3 characters (`94` → `094`, `01` → `001`).
pub fn cregi(region: &str) -> Result<String, String> {
    if region.is_empty() || region.len() > 3 {
        return Err(format!("bad région code {region:?}"));
    }
    Ok(format!("{region:0>3}"))
}

/// Rank of the commune in its département = last 3 characters of the INSEE code.
pub fn insee_rank(code: &str) -> Result<&str, String> {
    if code.len() != 5 || !code.is_ascii() {
        return Err(format!("bad INSEE code {code:?}"));
    }
    Ok(&code[2..])
}

/// Luhn check digit making `payload` + digit a valid Luhn number.
pub fn luhn_digit(payload: &str) -> u8 {
    let mut sum = 0u32;
    for (i, c) in payload.bytes().rev().enumerate() {
        let mut d = (c - b'0') as u32;
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    ((10 - sum % 10) % 10) as u8
}

/// SIRET of budget number `seq` (1 = principal): SIREN + 4-digit sequence + Luhn digit,
/// e.g. `213801855` → `21380185500015` (the real SIRET of Grenoble's budget principal).
pub fn siret(siren: &str, seq: u32) -> String {
    let payload = format!("{siren}{seq:04}");
    let d = luhn_digit(&payload);
    format!("{payload}{d}")
}

/// DGFiP-style label: upper case, accents removed (`Évisa` → `EVISA`, `Œuilly` → `OEUILLY`).
pub fn dgfip_label(nom: &str) -> String {
    let mut s = String::with_capacity(nom.len() + 4);
    for ch in nom.chars() {
        match ch {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => {
                s.push('A')
            }
            'ç' | 'Ç' => s.push('C'),
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => s.push('E'),
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => s.push('I'),
            'ñ' | 'Ñ' => s.push('N'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => s.push('O'),
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => s.push('U'),
            'ý' | 'ÿ' | 'Ý' | 'Ÿ' => s.push('Y'),
            'œ' | 'Œ' => s.push_str("OE"),
            'æ' | 'Æ' => s.push_str("AE"),
            '’' | '‘' | '`' => s.push('\''),
            c => s.extend(c.to_uppercase()),
        }
    }
    s
}

/// Encode to windows-1252; characters it cannot represent become `?` (encoding_rs would
/// otherwise emit HTML numeric references, which contain `;`).
pub fn encode_cp1252(s: &str) -> Vec<u8> {
    let (bytes, _, had_errors) = encoding_rs::WINDOWS_1252.encode(s);
    if !had_errors {
        return bytes.into_owned();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut tmp = [0u8; 4];
    for ch in s.chars() {
        let (b, _, err) = encoding_rs::WINDOWS_1252.encode(ch.encode_utf8(&mut tmp));
        if err {
            out.push(b'?')
        } else {
            out.extend_from_slice(&b)
        }
    }
    out
}

/// CSV field for a `;`-separated file (quoted only when needed).
pub(crate) fn csv_field(bytes: Vec<u8>) -> Vec<u8> {
    if !bytes
        .iter()
        .any(|&b| matches!(b, b';' | b'"' | b'\n' | b'\r'))
    {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'"');
    for b in bytes {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

#[inline]
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Non-negative cents with a decimal comma and exactly two decimals (`9697123` → `96971,23`).
#[inline]
pub(crate) fn push_cents(buf: &mut Vec<u8>, cents: i64) {
    debug_assert!(cents >= 0, "negative amount {cents}");
    let c = cents.max(0) as u64;
    push_u64(buf, c / 100);
    let r = (c % 100) as u8;
    buf.extend_from_slice(&[b',', b'0' + r / 10, b'0' + r % 10]);
}

/// `per_hab` cents per inhabitant × `scale` inhabitants × a random factor in [0.5, 1.5).
#[inline]
pub(crate) fn amt(per_hab: i64, scale: i64, rng: &mut Rng) -> i64 {
    if per_hab <= 0 || scale <= 0 {
        return 0;
    }
    let f = 500 + rng.below(1000) as i128;
    (per_hab as i128 * scale as i128 * f / 1000) as i64
}

#[inline]
fn pct(x: i64, p: u64) -> i64 {
    (x as i128 * p as i128 / 100) as i64
}

/// Movements of one year: (OBNETDEB, OBNETCRE, ONBDEB, ONBCRE, OOBDEB, OOBCRE), all ≥ 0,
/// with OOBDEB ≤ OBNETDEB and OOBCRE ≤ OBNETCRE.
#[derive(Clone, Copy, Debug, Default)]
struct Mv {
    obd: i64,
    obc: i64,
    onbd: i64,
    onbc: i64,
    oobd: i64,
    oobc: i64,
}

impl Mv {
    fn net(&self) -> i64 {
        self.obd - self.obc + self.onbd - self.onbc
    }
}

/// `b` = signed balance at opening (debit > 0), `b0` = the account's long-run level.
fn movements(acc: &Account, scale: i64, b: i64, b0: i64, rng: &mut Rng) -> Mv {
    let mut m = Mv::default();
    match acc.kind {
        Kind::Charge => {
            m.obd = amt(acc.flow, scale, rng);
            if rng.chance(8) {
                m.obc = pct(m.obd, rng.below(5)); // cancelled mandates
            }
        }
        Kind::ChargeOrder => {
            m.obd = amt(acc.flow, scale, rng);
            m.oobd = m.obd;
        }
        Kind::Produit => {
            m.obc = amt(acc.flow, scale, rng);
            if rng.chance(8) {
                m.obd = pct(m.obc, rng.below(5)); // cancelled titles
            }
        }
        Kind::ProduitOrder => {
            m.obc = amt(acc.flow, scale, rng);
            m.oobc = m.obc;
        }
        Kind::Equity => {
            if rng.chance(60) {
                m.obc = amt(acc.flow, scale, rng);
            }
        }
        Kind::Debt => {
            let debt = (-b).max(0);
            m.obd = pct(debt, 5 + rng.below(5)); // repayments
            if rng.chance(40) {
                m.obc = amt(acc.flow, scale, rng); // new loans
            }
        }
        Kind::Deposit => {
            m.obc = amt(acc.flow, scale, rng);
            m.obd = pct(m.obc, rng.below(90));
        }
        Kind::Asset => {
            m.obd = amt(acc.flow, scale, rng);
            if rng.chance(25) {
                m.oobd = pct(m.obd, rng.below(40)); // integrations (chapitre 041)
            }
            if rng.chance(15) {
                m.obc = (amt(acc.flow, scale, rng) / 2).min(b.max(0)); // cession, order op.
                m.oobc = m.obc;
            }
            if rng.chance(10) {
                m.onbd = amt(acc.flow, scale, rng) / 3; // integration of 23x/2031
            }
        }
        Kind::AssetWip => {
            m.obd = amt(acc.flow, scale, rng);
            if rng.chance(30) {
                m.oobd = pct(m.obd, rng.below(30));
            }
            m.onbc = pct(b.max(0) + m.obd, 30 + rng.below(40)); // completed works → 21x
        }
        Kind::Advance => {
            m.obd = amt(acc.flow, scale, rng);
            m.obc = pct(b.max(0) + m.obd, rng.below(80));
            m.oobc = m.obc;
        }
        Kind::Amort => {
            m.obc = amt(acc.flow, scale, rng);
            m.oobc = m.obc;
            if rng.chance(10) {
                m.obd = pct((-b).max(0), rng.below(10)); // assets leaving the inventory
                m.oobd = m.obd;
            }
        }
        Kind::Receipt => {
            m.obc = amt(acc.flow, scale, rng);
        }
        Kind::DebtActive => {
            let debt = (-b).max(0);
            m.obd = pct(debt, 5 + rng.below(5)); // repayments
            m.obc = amt(acc.flow, scale, rng); // new loans
        }
        Kind::LoanGranted => {
            m.obd = amt(acc.flow, scale, rng); // loans granted
            m.obc = pct(b.max(0), 5 + rng.below(10)); // repayments received
        }
        Kind::Treasury | Kind::ThirdCredit | Kind::ThirdDebit => {
            // Non-budgetary flows, pulled back towards the long-run level b0.
            let f = amt(acc.flow, scale, rng);
            let gap = b0 - b;
            m.onbd = f + gap.max(0) / 2 + pct(f, rng.below(3));
            m.onbc = f + (-gap).max(0) / 2 + pct(f, rng.below(3));
        }
    }
    m
}

fn initial_balance(acc: &Account, scale: i64, row_key: u64) -> i64 {
    let mut rng = Rng::new(combine(row_key, 0xB0B0));
    let v = amt(acc.stock, scale, &mut rng);
    match acc.kind {
        Kind::Asset
        | Kind::AssetWip
        | Kind::Advance
        | Kind::Treasury
        | Kind::ThirdDebit
        | Kind::LoanGranted => v,
        Kind::Equity
        | Kind::Debt
        | Kind::Deposit
        | Kind::Amort
        | Kind::ThirdCredit
        | Kind::Receipt
        | Kind::DebtActive => -v,
        _ => 0,
    }
}

/// The 10 amount columns (cents) of one budget × account × exercice:
/// BEDEB, BECRE, OBNETDEB, OBNETCRE, ONBDEB, ONBCRE, OOBDEB, OOBCRE, SD, SC.
pub(crate) fn row_amounts(acc: &Account, scale: i64, row_key: u64, exer: u16) -> [i64; 10] {
    let mut b = 0i64;
    let mut b0 = 0i64;
    if acc.kind.has_stock() {
        b0 = initial_balance(acc, scale, row_key);
        b = b0;
        for y in exer.min(BASE_YEAR)..exer {
            let m = movements(acc, scale, b, b0, &mut Rng::new(combine(row_key, y as u64)));
            b += m.net();
        }
    }
    let m = movements(
        acc,
        scale,
        b,
        b0,
        &mut Rng::new(combine(row_key, exer as u64)),
    );
    let close = b + m.net();
    [
        b.max(0),
        (-b).max(0),
        m.obd,
        m.obc,
        m.onbd,
        m.onbc,
        m.oobd,
        m.oobc,
        close.max(0),
        (-close).max(0),
    ]
}

struct Budget<'a> {
    uni: &'a Universe,
    m57_labels: bool,
    prefix: Vec<u8>,
    key: u64,
    scale: i64,
    annex: bool,
}

pub struct Generator {
    principal: Universe,
    annex: Universe,
    opts: Options,
}

impl Generator {
    pub fn new(opts: Options) -> Self {
        Generator {
            principal: accounts::principal(),
            annex: accounts::annex(),
            opts,
        }
    }

    /// Largest `--accounts` that has an effect.
    pub fn max_accounts(&self) -> usize {
        self.principal.accounts.len().min(self.annex.accounts.len())
    }

    /// Computes the DGFiP codes of each commune; errors on codes that cannot be mapped.
    pub fn prepare(communes: &[Commune]) -> Result<Vec<Prepared>, String> {
        communes
            .iter()
            .map(|c| {
                if c.siren.len() != 9 || !c.siren.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("commune {}: bad SIREN {:?}", c.code, c.siren));
                }
                Ok(Prepared {
                    code: c.code.clone(),
                    siren: c.siren.clone(),
                    ndept: ndept(&c.departement)?,
                    insee: insee_rank(&c.code)?.to_string(),
                    cregi: cregi(&c.region)?,
                    label: encode_cp1252(&dgfip_label(&c.nom)),
                    population: c.population,
                })
            })
            .collect()
    }

    /// Nomenclature of the budget principal: M57 from 2024, a deterministic ~15 % of early
    /// adopters in 2023 (fewer before), M14 otherwise.
    pub fn principal_nomen(&self, commune_code: &str, exer: u16) -> &'static str {
        let share = match exer {
            2024.. => return "M57",
            2023 => 15,
            2022 => 8,
            2021 => 4,
            2020 => 2,
            _ => 0,
        };
        if hash_bytes(self.opts.seed ^ 0x0057, commune_code.as_bytes()) % 100 < share {
            "M57"
        } else {
            "M14"
        }
    }

    fn has_first_annex(&self, c: &Prepared) -> bool {
        hash_bytes(self.opts.seed ^ 0xA22E, c.code.as_bytes()).is_multiple_of(4)
    }

    fn budget<'a>(&'a self, c: &Prepared, exer: u16, seq: u32, kind: Option<usize>) -> Budget<'a> {
        let ident = siret(&c.siren, seq);
        let mut prefix = Vec::with_capacity(128);
        prefix.extend_from_slice(format!("{exer};{ident};{};", c.ndept).as_bytes());
        let (uni, nomen, cbudg, m57_labels, scale);
        match kind {
            None => {
                uni = &self.principal;
                nomen = self.principal_nomen(&c.code, exer);
                m57_labels = nomen == "M57";
                cbudg = 1;
                scale = c.population as i64 + 100;
                prefix.extend_from_slice(&c.label);
            }
            Some(k) => {
                let (what, n) = ANNEX_KINDS[k % ANNEX_KINDS.len()];
                uni = &self.annex;
                nomen = n;
                m57_labels = false;
                cbudg = 3;
                scale = (c.population as i64 + 100) / 4;
                let round = k / ANNEX_KINDS.len();
                let mut label = encode_cp1252(what);
                if round > 0 {
                    label.extend_from_slice(format!(" {}", round + 1).as_bytes());
                }
                label.push(b' ');
                label.extend_from_slice(&c.label);
                prefix.extend_from_slice(&csv_field(label));
            }
        }
        prefix.extend_from_slice(
            format!(
                ";{};{cbudg};101;00;{nomen};{};{};40;;;;Commune;DEF;;",
                c.insee, c.siren, c.cregi
            )
            .as_bytes(),
        );
        Budget {
            uni,
            m57_labels,
            prefix,
            key: hash_bytes(self.opts.seed, ident.as_bytes()),
            scale,
            annex: kind.is_some(),
        }
    }

    /// Budgets of commune `c` in pass `pass`: pass 0 = budget principal (+ one annexe for about
    /// 1 commune in 4); pass p ≥ 1 (only with `--rows`) = one more annexe per commune.
    fn budgets_of<'a>(&'a self, c: &Prepared, exer: u16, pass: u32, out: &mut Vec<Budget<'a>>) {
        out.clear();
        let h = hash_bytes(self.opts.seed ^ 0xA22E, c.code.as_bytes());
        if pass == 0 {
            out.push(self.budget(c, exer, 1, None));
            if self.has_first_annex(c) {
                let k = ((h >> 8) % FIRST_PASS_ANNEX_KINDS as u64) as usize;
                out.push(self.budget(c, exer, 2, Some(k)));
            }
        } else {
            let k = ((h >> 8) as usize % ANNEX_KINDS.len()) + pass as usize;
            out.push(self.budget(c, exer, pass + 2, Some(k)));
        }
    }

    /// Accounts of a budget (independent of the exercice), sorted by account number as text.
    fn select(&self, b: &Budget, sel: &mut Vec<u16>, pool: &mut Vec<u16>) {
        let uni = b.uni;
        let want = self.opts.accounts.min(uni.accounts.len());
        sel.clear();
        sel.extend_from_slice(&uni.mandatory);
        sel.truncate(want);
        let mut rng = Rng::new(combine(b.key, 0x005E_1EC7));
        let slots = want.saturating_sub(sel.len());
        // ~3/4 of the free slots go to the common accounts of the base plan, the rest (and
        // whatever the base plan cannot fill) to the extra / generated sub-accounts.
        let from_base = (slots * 3).div_ceil(4).min(uni.optional_base.len());
        let from_rest = (slots - from_base).min(uni.optional_rest.len());
        let from_base = (slots - from_rest).min(uni.optional_base.len());
        for (tier, n) in [
            (&uni.optional_base, from_base),
            (&uni.optional_rest, from_rest),
        ] {
            pool.clear();
            pool.extend_from_slice(tier);
            for k in 0..n {
                let j = k + rng.below((pool.len() - k) as u64) as usize;
                pool.swap(k, j);
                sel.push(pool[k]);
            }
        }
        let rank = if b.m57_labels {
            &uni.rank_m57
        } else {
            &uni.rank_m14
        };
        sel.sort_unstable_by_key(|&i| rank[i as usize]);
    }

    /// Writes the header and all rows of one exercice.
    pub fn write<W: Write>(
        &self,
        communes: &[Prepared],
        exer: u16,
        out: &mut W,
    ) -> io::Result<Stats> {
        out.write_all(HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        let mut stats = Stats::default();
        if communes.is_empty() {
            return Ok(stats);
        }
        let limit = self.opts.rows;
        let mut line: Vec<u8> = Vec::with_capacity(512);
        let (mut sel, mut pool, mut budgets) = (Vec::new(), Vec::new(), Vec::new());
        let mut pass = 0u32;
        loop {
            for c in communes {
                self.budgets_of(c, exer, pass, &mut budgets);
                for b in &budgets {
                    if limit == Some(stats.rows) {
                        return Ok(stats);
                    }
                    if b.annex {
                        stats.annex_budgets += 1;
                    } else {
                        stats.principal_budgets += 1;
                    }
                    self.select(b, &mut sel, &mut pool);
                    for &i in &sel {
                        if limit == Some(stats.rows) {
                            return Ok(stats);
                        }
                        let acc = &b.uni.accounts[i as usize];
                        let a = row_amounts(acc, b.scale, combine(b.key, acc.key), exer);
                        line.clear();
                        line.extend_from_slice(&b.prefix);
                        line.extend_from_slice(if b.m57_labels {
                            acc.m57.as_bytes()
                        } else {
                            acc.m14.as_bytes()
                        });
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
            match limit {
                Some(n) if stats.rows < n => pass += 1,
                _ => return Ok(stats),
            }
            if pass + 2 > 9999 {
                return Err(io::Error::other(
                    "--rows too large for this set of communes (more than 9997 annex budgets per commune)",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn communes() -> Vec<Commune> {
        let c = |code: &str, nom: &str, dep: &str, reg: &str, siren: &str, pop: u64| Commune {
            code: code.into(),
            nom: nom.into(),
            departement: dep.into(),
            region: reg.into(),
            siren: siren.into(),
            population: pop,
        };
        vec![
            c("2A004", "Ajaccio", "2A", "94", "212000046", 75_000),
            c("2A138", "Évisa", "2A", "94", "212001382", 200),
            c("90010", "Belfort", "90", "27", "219000106", 45_000),
            c("97101", "Les Abymes", "971", "01", "219711017", 53_000),
            c("97134", "Vieux-Habitants", "971", "01", "219711348", 0),
        ]
    }

    fn generate(opts: Options, exer: u16) -> (Vec<u8>, Stats) {
        let g = Generator::new(opts);
        let prepared = Generator::prepare(&communes()).unwrap();
        let mut buf = Vec::new();
        let stats = g.write(&prepared, exer, &mut buf).unwrap();
        (buf, stats)
    }

    fn opts(accounts: usize) -> Options {
        Options {
            seed: 7,
            accounts,
            rows: None,
        }
    }

    fn cents(s: &str) -> i64 {
        let (e, d) = s
            .split_once(',')
            .unwrap_or_else(|| panic!("no decimal comma in {s:?}"));
        assert_eq!(d.len(), 2, "{s:?}");
        assert!(
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()),
            "{s:?}"
        );
        e.parse::<i64>().unwrap() * 100 + d.parse::<i64>().unwrap()
    }

    fn rows(buf: &[u8]) -> Vec<Vec<String>> {
        let (text, _, err) = encoding_rs::WINDOWS_1252.decode(buf);
        assert!(!err);
        assert!(!text.contains('\r'));
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), HEADER);
        lines
            .map(|l| {
                let f: Vec<String> = l.split(';').map(String::from).collect();
                assert_eq!(f.len(), 29, "{l}");
                f
            })
            .collect()
    }

    #[test]
    fn identity_and_sign_rules_hold_on_every_row() {
        for exer in [2023u16, 2024] {
            for n in [30, 300] {
                let (buf, stats) = generate(opts(n), exer);
                let rows = rows(&buf);
                assert_eq!(rows.len() as u64, stats.rows);
                assert!(stats.principal_budgets == 5);
                for r in &rows {
                    let v: Vec<i64> = r[19..29].iter().map(|s| cents(s)).collect();
                    let [bedeb, becre, obd, obc, onbd, onbc, oobd, oobc, sd, sc] = v[..] else {
                        unreachable!()
                    };
                    assert_eq!(
                        sd - sc,
                        (bedeb - becre) + (obd - obc) + (onbd - onbc),
                        "{r:?}"
                    );
                    assert!(sd == 0 || sc == 0, "{r:?}");
                    assert!(bedeb == 0 || becre == 0, "{r:?}");
                    assert!(oobd <= obd && oobc <= obc, "{r:?}");
                    let compte = &r[18];
                    assert!(
                        (2..=8).contains(&compte.len())
                            && compte.bytes().all(|b| b.is_ascii_digit())
                    );
                    if compte.starts_with('6') || compte.starts_with('7') {
                        assert_eq!((bedeb, becre), (0, 0), "{r:?}");
                    }
                    if compte == "6811" || compte == "7811" {
                        assert_eq!((oobd, oobc), (obd, obc), "{r:?}");
                    }
                    if compte == "515" {
                        assert_eq!((obd, obc), (0, 0), "{r:?}");
                    }
                    if compte == "1641" {
                        assert_eq!(bedeb, 0, "{r:?}");
                    }
                    assert_eq!(&r[0], &exer.to_string());
                    assert_eq!(&r[6..8], ["101", "00"]);
                    assert_eq!(&r[11..18], ["40", "", "", "", "Commune", "DEF", ""]);
                }
                // Accounts sorted as text within a budget, no duplicates.
                for w in rows.windows(2) {
                    if w[0][1] == w[1][1] {
                        assert!(w[0][18] < w[1][18], "{:?} / {:?}", w[0][18], w[1][18]);
                    }
                }
            }
        }
    }

    #[test]
    fn ndept_insee_cregi_ident_rules() {
        assert_eq!(ndept("2A").unwrap(), "02A");
        assert_eq!(ndept("90").unwrap(), "090");
        assert_eq!(ndept("971").unwrap(), "101");
        assert_eq!(ndept("976").unwrap(), "106");
        assert!(ndept("987").is_err());
        assert_eq!(insee_rank("2A004").unwrap(), "004");
        assert_eq!(insee_rank("97101").unwrap(), "101");
        assert_eq!(cregi("94").unwrap(), "094");
        assert_eq!(cregi("01").unwrap(), "001");
        // Real SIRETs of budgets principaux (fixture): SIREN + 0001 + Luhn digit.
        assert_eq!(siret("213801855", 1), "21380185500015");
        assert_eq!(siret("217300656", 1), "21730065600014");
        assert_eq!(siret("200063402", 1), "20006340200016");
        assert_eq!(siret("216901231", 1), "21690123100011");
        assert_eq!(dgfip_label("Évisa"), "EVISA");
        assert_eq!(dgfip_label("L'Haÿ-les-Roses"), "L'HAY-LES-ROSES");
        assert_eq!(dgfip_label("Œuilly"), "OEUILLY");

        let expect = [
            ("212000046", "02A", "004", "094", "AJACCIO"),
            ("212001382", "02A", "138", "094", "EVISA"),
            ("219000106", "090", "010", "027", "BELFORT"),
            ("219711017", "101", "101", "001", "LES ABYMES"),
            ("219711348", "101", "134", "001", "VIEUX-HABITANTS"),
        ];
        let (buf, _) = generate(
            Options {
                seed: 1,
                accounts: 30,
                rows: Some(20_000),
            },
            2023,
        );
        let rows = rows(&buf);
        assert_eq!(rows.len(), 20_000);
        let mut seen_annex = false;
        for r in &rows {
            let (siren, nd, insee, reg, name) = *expect
                .iter()
                .find(|e| e.0 == r[9])
                .unwrap_or_else(|| panic!("{r:?}"));
            assert_eq!((&*r[2], &*r[4], &*r[10]), (nd, insee, reg), "{r:?}");
            assert_eq!(r[1].len(), 14);
            assert!(r[1].starts_with(siren));
            assert_eq!(luhn_digit(&r[1][..13]), r[1].as_bytes()[13] - b'0');
            match &*r[5] {
                "1" => {
                    assert_eq!(&r[1][9..], siret(siren, 1)[9..].to_string());
                    assert_eq!(r[3], name);
                    assert!(r[8] == "M14" || r[8] == "M57");
                }
                "3" => {
                    seen_annex = true;
                    assert!(r[3].ends_with(&format!(" {name}")), "{r:?}");
                    assert!(r[8].starts_with("M4"), "{r:?}");
                }
                other => panic!("CBUDG {other}"),
            }
        }
        assert!(seen_annex);
        // IDENT × COMPTE unique even when cycling.
        let mut keys: Vec<(String, String)> =
            rows.iter().map(|r| (r[1].clone(), r[18].clone())).collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[test]
    fn deterministic_and_chained() {
        let (a, _) = generate(opts(30), 2024);
        let (b, _) = generate(opts(30), 2024);
        assert_eq!(a, b);
        let (c, _) = generate(
            Options {
                seed: 8,
                ..opts(30)
            },
            2024,
        );
        assert_ne!(a, c);
        // Nomenclature: M57 in 2024.
        let r24 = rows(&a);
        assert!(r24.iter().all(|r| r[5] != "1" || r[8] == "M57"));
        // Opening balance 2024 = closing balance 2023 (classes 1–5, same budget & account).
        let (p, _) = generate(opts(30), 2023);
        let r23 = rows(&p);
        let mut checked = 0;
        for r in &r24 {
            if r[18].starts_with('6') || r[18].starts_with('7') {
                continue;
            }
            if let Some(q) = r23.iter().find(|q| q[1] == r[1] && q[18] == r[18]) {
                assert_eq!((&q[27], &q[28]), (&r[19], &r[20]), "{q:?} -> {r:?}");
                checked += 1;
            }
        }
        assert!(checked > 50, "{checked}");
    }

    #[test]
    fn rows_limit_is_exact() {
        for n in [0u64, 1, 29, 31, 1234, 5000] {
            let (buf, stats) = generate(
                Options {
                    seed: 3,
                    accounts: 300,
                    rows: Some(n),
                },
                2024,
            );
            assert_eq!(stats.rows, n);
            assert_eq!(rows(&buf).len() as u64, n);
        }
    }

    #[test]
    fn plans_are_big_enough_and_budgets_get_n_accounts() {
        let g = Generator::new(opts(300));
        assert!(g.principal.accounts.len() >= 300 && g.annex.accounts.len() >= 300);
        for n in [5usize, 30, 300] {
            let (buf, stats) = generate(opts(n), 2024);
            let budgets = stats.principal_budgets + stats.annex_budgets;
            assert_eq!(stats.rows, budgets * n as u64);
            assert_eq!(rows(&buf).len() as u64, stats.rows);
        }
    }

    #[test]
    fn amounts_formatting() {
        let mut b = Vec::new();
        for v in [0, 5, 100, 9697123] {
            push_cents(&mut b, v);
            b.push(b' ');
        }
        assert_eq!(b, b"0,00 0,05 1,00 96971,23 ");
    }
}
