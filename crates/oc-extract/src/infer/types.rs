//! A type per column from every value read: what the values of one column look like, and the
//! type (with its comment) that converts all of them. No IO.

use crate::conform::DEFAULT_NULL_VALUES;

/// What the values of one column look like, gathered value by value.
#[derive(Debug, Clone, Default)]
pub struct ColumnStats {
    pub values: u64,
    pub nulls: u64,
    /// NULL markers seen (`n.c`, `-`…), in order of appearance.
    pub markers: Vec<String>,
    digits_only: bool,
    leading_zero: bool,
    /// The longest NULL marker (a code's width must hold it: codes are text, markers stay).
    marker_len: usize,
    code_like: bool,
    lengths: (usize, usize),
    /// Numbers with `.` / with `,` as decimal mark, space-grouped thousands.
    dot: bool,
    comma: bool,
    spaced: bool,
    numeric: bool,
    int_digits: usize,
    frac_digits: usize,
    /// Every number is a whole number of cents up to binary noise (`1234.5600000000002`).
    cents: bool,
    iso_date: bool,
    fr_date: bool,
    first: Option<String>,
}

impl ColumnStats {
    pub fn new() -> ColumnStats {
        ColumnStats {
            digits_only: true,
            code_like: true,
            numeric: true,
            cents: true,
            iso_date: true,
            fr_date: true,
            lengths: (usize::MAX, 0),
            ..Default::default()
        }
    }

    pub fn add(&mut self, raw: &str) {
        let v = raw.trim();
        if DEFAULT_NULL_VALUES
            .iter()
            .any(|m| m.eq_ignore_ascii_case(v))
        {
            self.nulls += 1;
            self.marker_len = self.marker_len.max(v.chars().count());
            if !v.is_empty() && !self.markers.iter().any(|m| m == v) && self.markers.len() < 5 {
                self.markers.push(v.to_string());
            }
            return;
        }
        self.values += 1;
        if self.first.is_none() {
            self.first = Some(v.chars().take(30).collect());
        }
        let n = v.chars().count();
        self.lengths = (self.lengths.0.min(n), self.lengths.1.max(n));
        let digits = v.bytes().all(|b| b.is_ascii_digit());
        self.digits_only &= digits;
        self.leading_zero |= digits && n > 1 && v.starts_with('0');
        self.code_like &= n <= 15
            && v.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            && v.bytes().any(|b| b.is_ascii_digit());
        self.iso_date &= chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok();
        self.fr_date &= chrono::NaiveDate::parse_from_str(v, "%d/%m/%Y").is_ok();
        if self.numeric {
            // `5e-06`: the shape of the same number written out (what the reader accepts too)
            let written;
            let v = match number_shape(v) {
                None if v.contains(['e', 'E']) && !v.contains(',') => match v.parse::<f64>() {
                    Ok(x) if x.is_finite() => {
                        written = x.to_string();
                        written.as_str()
                    }
                    _ => v,
                },
                _ => v,
            };
            match number_shape(v) {
                Some(s) => {
                    self.dot |= s.mark == Some('.');
                    self.comma |= s.mark == Some(',');
                    self.spaced |= s.spaced;
                    self.int_digits = self.int_digits.max(s.int_digits);
                    self.frac_digits = self.frac_digits.max(s.frac_digits);
                    if s.frac_digits > 2 {
                        let x: f64 = v
                            .replace([' ', '\u{a0}', '\u{202f}'], "")
                            .replace(',', ".")
                            .parse()
                            .unwrap_or(f64::NAN);
                        let cents = (x * 100.0).round() / 100.0;
                        self.cents &= (x - cents).abs() <= 1e-9 * x.abs().max(1.0);
                    }
                }
                None => self.numeric = false,
            }
        }
    }

    /// Whether the column's numbers use `,` as decimal mark (and not `.`).
    pub fn decimal_comma(&self) -> bool {
        self.numeric && self.values > 0 && self.comma && !self.dot
    }

    /// Whether the column's numbers use `.` as decimal mark.
    pub fn decimal_dot(&self) -> bool {
        self.numeric && self.values > 0 && self.dot
    }

    /// Whether the column's numbers group thousands with spaces.
    pub fn spaced(&self) -> bool {
        self.numeric && self.values > 0 && self.spaced
    }
}

struct Shape {
    mark: Option<char>,
    spaced: bool,
    int_digits: usize,
    frac_digits: usize,
}

/// `-1 234,56`, `1234.5`, `+3`: sign, digits (groups of three after a space), one mark.
fn number_shape(v: &str) -> Option<Shape> {
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (int, frac, mark) = match body.rfind(['.', ',']) {
        Some(i) => (&body[..i], &body[i + 1..], body[i..].chars().next()),
        None => (body, "", None),
    };
    let spaced = int.contains([' ', '\u{a0}', '\u{202f}']);
    let groups: Vec<&str> = int.split([' ', '\u{a0}', '\u{202f}']).collect();
    let ok_groups = groups.len() == 1
        || (groups[0].len() <= 3
            && !groups[0].is_empty()
            && groups[1..].iter().all(|g| g.len() == 3));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !ok_groups || !groups.iter().all(|g| digits(g)) || (mark.is_some() && !digits(frac)) {
        return None;
    }
    Some(Shape {
        mark,
        spaced,
        int_digits: groups.iter().map(|g| g.len()).sum(),
        frac_digits: frac.len(),
    })
}

/// A proposed column type and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// As written in the pipeline (`code`, `int64`, `decimal(18,2)`…).
    pub ty: String,
    pub width: Option<usize>,
    pub format: Option<String>,
    pub comment: String,
}

/// Headers whose digit-only values are identifiers, not quantities.
fn names_a_code(header: &str) -> bool {
    // a count or an amount about codes (`nb_com_2021`, `ptot_epci_2021`) is a quantity
    let quantity = [
        "nb",
        "nombre",
        "pop",
        "ptot",
        "pmun",
        "total",
        "montant",
        "mt",
        "somme",
        "effectif",
        "superficie",
        "surface",
        "densite",
        "taux",
    ];
    if snake_case(header)
        .split('_')
        .any(|w| quantity.iter().any(|q| w.starts_with(q)))
    {
        return false;
    }
    let h = header.to_lowercase();
    [
        "code", "insee", "siren", "siret", "ident", "dep", "reg", "com", "cog", "cp", "postal",
        "epci", "finess", "compte", "fonction", "categ", "nomen", "cbudg", "ctype", "cstyp",
        "nature", "numero", "num", "id",
    ]
    .iter()
    .any(|k| h.contains(k))
}

/// The type of a column from its values. `decimal_comma`: the file's decimal mark is `,`;
/// `spaced`: its numbers group thousands with spaces.
pub fn propose(header: &str, s: &ColumnStats, decimal_comma: bool, spaced: bool) -> Proposal {
    let p = |ty: &str, comment: String| Proposal {
        ty: ty.into(),
        width: None,
        format: None,
        comment,
    };
    let seen = format!("{} values, {} empty", s.values, s.nulls);
    if s.values == 0 {
        return p(
            "string",
            format!("no value in the file ({seen}): typed as text"),
        );
    }
    if s.digits_only && (s.leading_zero || names_a_code(header)) {
        let width =
            (s.lengths.0 == s.lengths.1 && s.marker_len <= s.lengths.1).then_some(s.lengths.1);
        let why = if s.leading_zero {
            "digits with leading zeros"
        } else {
            "digits in a column named like a code"
        };
        return Proposal {
            ty: "code".into(),
            width,
            format: None,
            comment: format!(
                "{why} ({seen}, e.g. {})",
                s.first.clone().unwrap_or_default()
            ),
        };
    }
    if s.code_like && !s.digits_only {
        return p(
            "code",
            format!(
                "codes of digits and capitals ({seen}, e.g. {})",
                s.first.clone().unwrap_or_default()
            ),
        );
    }
    if s.iso_date {
        return p("date", format!("ISO dates ({seen})"));
    }
    if s.fr_date {
        let mut d = p("date", format!("French dates ({seen})"));
        d.format = Some("%d/%m/%Y".into());
        return d;
    }
    // the column's decimal mark is the file's: `,` when the file's is, `.` otherwise
    let mark_fits = if decimal_comma { !s.dot } else { !s.comma };
    if s.numeric && mark_fits && (spaced || !s.spaced) {
        if s.frac_digits == 0 && s.int_digits <= 18 {
            let h = header.to_lowercase();
            let year = ["exer", "annee", "année", "year", "millesime", "an"]
                .iter()
                .any(|k| h == *k || h.starts_with(k));
            if year && s.int_digits == 4 {
                return p("int16", format!("years ({seen})"));
            }
            return p("int64", format!("integers ({seen})"));
        }
        let scale = if s.cents {
            2
        } else {
            s.frac_digits.clamp(2, 6)
        };
        if s.int_digits + scale <= 18 {
            let comment = if s.frac_digits > 2 && s.cents {
                format!(
                    "amounts in cents written as binary floats (e.g. 1234.5600000000002), rounded to cents ({seen})"
                )
            } else if s.frac_digits > 6 {
                format!(
                    "numbers with up to {} decimals, kept to 6 ({seen})",
                    s.frac_digits
                )
            } else {
                format!("exact decimals ({seen})")
            };
            return p(&format!("decimal(18,{scale})"), comment);
        }
        return p(
            "float64",
            format!("numbers too long for decimal(18,…) ({seen})"),
        );
    }
    if s.numeric && (s.spaced || !mark_fits) {
        return p(
            "string",
            format!(
                "numbers written differently from the rest of the file ({seen}): kept as text; set the decimal mark or thousands separator to type them"
            ),
        );
    }
    p("string", format!("text ({seen})"))
}

/// A header as a column name: lowercase ASCII, accents dropped, other characters `_`.
pub fn snake_case(header: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in header.trim().chars() {
        let c = match c {
            'à' | 'â' | 'ä' | 'À' | 'Â' | 'Ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
            'î' | 'ï' | 'Î' | 'Ï' => 'i',
            'ô' | 'ö' | 'Ô' | 'Ö' => 'o',
            'ù' | 'û' | 'ü' | 'Ù' | 'Û' | 'Ü' => 'u',
            'ç' | 'Ç' => 'c',
            'œ' | 'Œ' => 'o',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            // camelCase boundaries become words (not the letters of an acronym)
            if c.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase();
    }
    let out = out.trim_matches('_').to_string();
    match out.chars().next() {
        None => "column".into(),
        Some(c) if c.is_ascii_digit() => format!("c_{out}"),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[&str]) -> ColumnStats {
        let mut s = ColumnStats::new();
        for v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn types_from_values() {
        let t = |h: &str, v: &[&str]| propose(h, &stats(v), false, false);
        let c = t("insee", &["01001", "97101", "01002"]);
        assert_eq!((c.ty.as_str(), c.width), ("code", Some(5)));
        assert_eq!(t("siren", &["210100012", "200000172"]).ty, "code");
        assert_eq!(t("dep", &["2A", "01", "971"]).ty, "code");
        // a count or a population about codes is a quantity (ASPIC's EPCI sheet)
        assert_eq!(t("nb_com_2021", &["57", "103"]).ty, "int64");
        assert_eq!(t("ptot_epci_2021", &["103329", "99520"]).ty, "int64");
        assert_eq!(t("siren_epci", &["200065928"]).ty, "code");
        assert_eq!(t("population", &["767", "n.c", "15230"]).ty, "int64");
        assert_eq!(t("exercice", &["2024", "2023"]).ty, "int16");
        assert_eq!(t("montant", &["1234.5", "-0.05", "12"]).ty, "decimal(18,2)");
        assert_eq!(t("ratio", &["0.104085575397717"]).ty, "decimal(18,6)");
        assert_eq!(
            t("montant", &["1234.5600000000002", "7.1"]).ty,
            "decimal(18,2)"
        );
        assert_eq!(t("debut", &["2024-01-31", ""]).ty, "date");
        let fr = t("debut", &["31/01/2024"]);
        assert_eq!(
            (fr.ty.as_str(), fr.format.as_deref()),
            ("date", Some("%d/%m/%Y"))
        );
        assert_eq!(t("nom", &["Orléans", "2A004"]).ty, "string");
        // a comma decimal in a file whose mark is `.` stays text, said so
        assert_eq!(t("taux", &["1,5"]).ty, "string");
        assert_eq!(
            propose("taux", &stats(&["1,5", "2"]), true, false).ty,
            "decimal(18,2)"
        );
        assert_eq!(
            propose("k", &stats(&["177 973", "44"]), true, true).ty,
            "int64"
        );
        // a marker longer than the codes: no width (it would not fit)
        assert_eq!(t("dep", &["01", "n.d."]).width, None);
        assert_eq!(t("vide", &["", "-"]).ty, "string");
    }

    #[test]
    fn names() {
        assert_eq!(
            snake_case("Code Insee 2024 Commune"),
            "code_insee_2024_commune"
        );
        assert_eq!(snake_case("Population légale"), "population_legale");
        assert_eq!(snake_case("populationMunicipale"), "population_municipale");
        assert_eq!(snake_case("Code Siren 2024 EPCI"), "code_siren_2024_epci");
        assert_eq!(snake_case("2023 (p)"), "c_2023_p");
        assert_eq!(snake_case("  "), "column");
    }
}
