//! French (and English) number text → exact values.
//!
//! `12 345,67`, `12 345,67` (NBSP), `12 345,67` (U+202F), `12.345,67`, `−12,5` (U+2212),
//! `+3`, `(12,5)` (negative). Amounts become scaled integers (Decimal128), never floats, so sums stay exact.

/// How numbers are written in a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberFormat {
    pub decimal: char,
    /// `' '` stands for any space-like separator: space, NBSP, U+202F (narrow NBSP).
    pub thousands: Option<char>,
}

impl From<oc_spec::resolve::NumberMarks> for NumberFormat {
    fn from(m: oc_spec::resolve::NumberMarks) -> Self {
        Self {
            decimal: m.decimal,
            thousands: m.thousands,
        }
    }
}

impl Default for NumberFormat {
    fn default() -> Self {
        Self {
            decimal: '.',
            thousands: None,
        }
    }
}

impl NumberFormat {
    pub fn french() -> Self {
        Self {
            decimal: ',',
            thousands: Some(' '),
        }
    }

    fn is_thousands(&self, c: char) -> bool {
        match self.thousands {
            Some(' ') => matches!(c, ' ' | '\u{a0}' | '\u{202f}'),
            Some(t) => c == t,
            None => false,
        }
    }
}

/// A number split into sign, integer digits and fraction digits (ASCII), validated.
struct Parts<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    exp: i32,
}

/// Normalises the text into a plain `-123.45e6` form in `buf` and splits it.
fn split<'a>(text: &str, fmt: NumberFormat, buf: &'a mut String) -> Result<Parts<'a>, String> {
    buf.clear();
    let blank = |c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{202f}';
    let t = text.trim_matches(blank);
    if t.is_empty() {
        return Err("empty number".into());
    }
    // Accounting negatives, as financial reports print them: `(1 234,56)`.
    let (t, parenthesised) = match t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) => (inner.trim_matches(blank), true),
        None => (t, false),
    };
    let mut chars = t.chars().peekable();
    let mut negative = parenthesised;
    match chars.peek() {
        Some('-') | Some('\u{2212}') | Some('+') if parenthesised => {
            return Err("not a number (a sign inside parentheses)".into());
        }
        Some('-') | Some('\u{2212}') => {
            negative = true;
            chars.next();
        }
        Some('+') => {
            chars.next();
        }
        _ => {}
    }
    let mut seen_decimal = false;
    let mut seen_exp = false;
    let mut last_was_sep = false;
    // Thousands groups: after a separator every group has exactly 3 digits, and the first
    // one 1 to 3. Otherwise `12.5` with a `.` separator would silently become 125.
    let mut seen_sep = false;
    let mut group = 0usize;
    let group_error = || {
        Err("not a number (digit groups around the thousands separator are not 3 digits: check the decimal mark and thousands separator)".to_string())
    };
    for c in chars {
        if c.is_ascii_digit() {
            buf.push(c);
            last_was_sep = false;
            if !seen_decimal && !seen_exp {
                group += 1;
            }
        } else if c == fmt.decimal && !seen_decimal && !seen_exp && !last_was_sep {
            if seen_sep && group != 3 {
                return group_error();
            }
            seen_decimal = true;
            buf.push('.');
        } else if fmt.is_thousands(c)
            && !seen_decimal
            && !seen_exp
            && !buf.is_empty()
            && !last_was_sep
        {
            if (seen_sep && group != 3) || (!seen_sep && group > 3) {
                return group_error();
            }
            seen_sep = true;
            group = 0;
            last_was_sep = true;
        } else if (c == 'e' || c == 'E') && !seen_exp && !buf.is_empty() && !last_was_sep {
            if seen_sep && !seen_decimal && group != 3 {
                return group_error();
            }
            seen_exp = true;
            buf.push('e');
        } else if (c == '-' || c == '+') && buf.ends_with('e') {
            buf.push(c);
        } else {
            let hint = if c == ',' || c == '.' {
                format!(" (unexpected `{c}`: check the decimal mark and thousands separator)")
            } else {
                String::new()
            };
            return Err(format!("not a number{hint}"));
        }
    }
    if last_was_sep {
        return Err("not a number (ends with a separator)".into());
    }
    if seen_sep && !seen_decimal && !seen_exp && group != 3 {
        return group_error();
    }
    let (mantissa, exp) = match buf.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().map_err(|_| "bad exponent".to_string())?),
        None => (buf.as_str(), 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return Err("not a number".into());
    }
    Ok(Parts {
        negative,
        int,
        frac,
        exp,
    })
}

/// Parses into an integer scaled by `10^scale`, rounding half away from zero when the text
/// has more fraction digits than the scale. Fails when more than `precision` digits remain.
pub fn parse_decimal(
    text: &str,
    fmt: NumberFormat,
    precision: u8,
    scale: i8,
) -> Result<i128, String> {
    if let Some(v) = plain_decimal(text.as_bytes(), fmt, precision, scale) {
        return v;
    }
    let mut buf = String::with_capacity(text.len());
    let p = split(text, fmt, &mut buf)?;
    // Shift the decimal point by the exponent: digits = int ++ frac, point after int.len() + exp.
    let digits: String = [p.int, p.frac].concat();
    if digits.bytes().all(|b| b == b'0') {
        // Also keeps `0e999999999` from looping over a billion zeros.
        return Ok(0);
    }
    if p.exp.unsigned_abs() > 100 {
        return Err(format!(
            "exponent out of range for decimal({precision},{scale})"
        ));
    }
    let point = p.int.len() as i64 + p.exp as i64;
    let scale = scale as i64;
    let keep = point + scale; // number of leading digits that form the scaled integer
    let mut value: i128 = 0;
    let mut count_significant = 0usize;
    let bytes = digits.as_bytes();
    for i in 0..keep.max(0) {
        let d = if (i as usize) < bytes.len() {
            bytes[i as usize] - b'0'
        } else {
            0
        };
        if value != 0 || d != 0 {
            count_significant += 1;
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as i128))
            .ok_or("number too large")?;
    }
    // Round on the first dropped digit.
    if keep >= 0
        && let Some(&d) = bytes.get(keep as usize)
        && d >= b'5'
    {
        value = value.checked_add(1).ok_or("number too large")?;
    }
    if count_significant > precision as usize || value >= 10i128.pow(precision as u32) {
        return Err(format!("too many digits for decimal({precision},{scale})"));
    }
    Ok(if p.negative { -value } else { value })
}

/// The shape bulk files write (`-1234,56`: optional sign, ASCII digits, at most `scale`
/// fraction digits, no separators) parsed without allocating; `None` sends anything else
/// (spaces, thousands, exponents, rounding) to the general path, which gives the same values.
fn plain_decimal(
    b: &[u8],
    fmt: NumberFormat,
    precision: u8,
    scale: i8,
) -> Option<Result<i128, String>> {
    if scale < 0 || !fmt.decimal.is_ascii() {
        return None;
    }
    let (negative, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let mark = fmt.decimal as u8;
    let (int, frac) = match digits.iter().position(|&c| c == mark) {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, &digits[..0]),
    };
    let scale = scale as usize;
    if (int.is_empty() && frac.is_empty()) || frac.len() > scale || int.len() + scale > 36 {
        return None;
    }
    if int.len() + scale <= 18 {
        // Every amount of a bulk file: 18 digits fit a u64, without i128 arithmetic.
        let value = digits_u64(int)?;
        let value = frac.iter().try_fold(value, |v, &c| {
            let d = c.wrapping_sub(b'0');
            (d <= 9).then(|| v * 10 + u64::from(d))
        })?;
        let value = value * POW10[scale - frac.len()];
        if precision <= 18 && value >= POW10[usize::from(precision)] {
            return Some(Err(format!(
                "too many digits for decimal({precision},{scale})"
            )));
        }
        let value = i128::from(value);
        return Some(Ok(if negative { -value } else { value }));
    }
    let mut value: i128 = 0;
    for &c in int.iter().chain(frac) {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + (c - b'0') as i128;
    }
    value *= 10i128.pow((scale - frac.len()) as u32);
    if value >= 10i128.pow(precision as u32) {
        return Some(Err(format!(
            "too many digits for decimal({precision},{scale})"
        )));
    }
    Some(Ok(if negative { -value } else { value }))
}

/// Powers of ten that fit a u64.
const POW10: [u64; 19] = {
    let mut p = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// The value of at most 18 ASCII digits; `None` at any other byte.
#[inline]
fn digits_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |v, &c| {
        let d = c.wrapping_sub(b'0');
        (d <= 9).then(|| v * 10 + u64::from(d))
    })
}

pub fn parse_i64(text: &str, fmt: NumberFormat) -> Result<i64, String> {
    // Plain ASCII digits (a year, a count): no allocation.
    let b = text.as_bytes();
    if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
        return Ok(b.iter().fold(0i64, |v, &c| v * 10 + (c - b'0') as i64));
    }
    let mut buf = String::with_capacity(text.len());
    let p = split(text, fmt, &mut buf)?;
    if p.exp != 0 || p.frac.bytes().any(|b| b != b'0') {
        return Err("not an integer".into());
    }
    let int = if p.int.is_empty() { "0" } else { p.int };
    let signed = if p.negative {
        format!("-{int}")
    } else {
        int.to_string()
    };
    signed
        .parse()
        .map_err(|_| "integer out of range".to_string())
}

pub fn parse_f64(text: &str, fmt: NumberFormat) -> Result<f64, String> {
    let mut buf = String::with_capacity(text.len());
    let p = split(text, fmt, &mut buf)?;
    let s = format!(
        "{}{}.{}e{}",
        if p.negative { "-" } else { "" },
        if p.int.is_empty() { "0" } else { p.int },
        p.frac,
        p.exp
    );
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err("not a finite number".to_string()),
    }
}

/// Formats a scaled integer back to text (`12345, 2` → `123.45`), for messages and tests.
pub fn format_decimal(value: i128, scale: i8) -> String {
    let neg = value < 0;
    let digits = value.unsigned_abs().to_string();
    let scale = scale as usize;
    let s = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    if neg { format!("-{s}") } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr() -> NumberFormat {
        NumberFormat::french()
    }

    #[test]
    fn french_decimals_are_exact() {
        assert_eq!(parse_decimal("96971,23", fr(), 18, 2), Ok(9697123));
        assert_eq!(parse_decimal("12 345,6", fr(), 18, 2), Ok(1234560));
        assert_eq!(parse_decimal("12\u{a0}345,67", fr(), 18, 2), Ok(1234567));
        assert_eq!(
            parse_decimal("1\u{202f}234\u{202f}567,89", fr(), 18, 2),
            Ok(123456789)
        );
        assert_eq!(parse_decimal("\u{2212}12,5", fr(), 18, 2), Ok(-1250));
        assert_eq!(parse_decimal("-0,01", fr(), 18, 2), Ok(-1));
        assert_eq!(parse_decimal("0", fr(), 18, 2), Ok(0));
        assert_eq!(parse_decimal(",5", fr(), 18, 2), Ok(50));
    }

    #[test]
    fn dot_thousands_with_comma_decimal() {
        let f = NumberFormat {
            decimal: ',',
            thousands: Some('.'),
        };
        assert_eq!(parse_decimal("1.234.567,8", f, 18, 2), Ok(123456780));
        assert!(
            parse_decimal(
                "1.234.567.8,1",
                NumberFormat {
                    decimal: ',',
                    thousands: None
                },
                18,
                2
            )
            .is_err()
        );
    }

    #[test]
    fn dot_decimals_and_long_floats_round_half_away_from_zero() {
        let en = NumberFormat::default();
        assert_eq!(parse_decimal("3.5200673399999998", en, 18, 2), Ok(352));
        assert_eq!(parse_decimal("0.005", en, 18, 2), Ok(1));
        assert_eq!(parse_decimal("-0.005", en, 18, 2), Ok(-1));
        assert_eq!(parse_decimal("0.004", en, 18, 2), Ok(0));
        assert_eq!(parse_decimal("1.5e3", en, 18, 2), Ok(150000));
        assert_eq!(parse_decimal("1234e-2", en, 18, 2), Ok(1234));
        assert_eq!(parse_decimal("9.999", en, 18, 2), Ok(1000));
    }

    #[test]
    fn wrong_marks_are_errors_not_guesses() {
        let en = NumberFormat::default();
        // A decimal comma in a dot-decimal column must not silently become 9697123 or 96971.
        let e = parse_decimal("96971,23", en, 18, 2).unwrap_err();
        assert!(e.contains("decimal mark"), "{e}");
        assert!(parse_decimal("12 345", en, 18, 2).is_err());
        assert!(parse_decimal("abc", fr(), 18, 2).is_err());
        assert!(parse_decimal("1 ", fr(), 18, 2).is_ok());
        assert!(parse_decimal("1  000", fr(), 18, 2).is_err());
        assert!(parse_decimal("-", fr(), 18, 2).is_err());
    }

    #[test]
    fn thousands_groups_must_have_three_digits() {
        let dot_thousands = NumberFormat {
            decimal: ',',
            thousands: Some('.'),
        };
        assert!(parse_decimal("12.5", dot_thousands, 18, 2).is_err());
        assert_eq!(parse_decimal("12.500", dot_thousands, 18, 2), Ok(1250000));
        let comma_thousands = NumberFormat {
            decimal: '.',
            thousands: Some(','),
        };
        assert!(parse_decimal("12,5", comma_thousands, 18, 2).is_err());
        assert_eq!(
            parse_decimal("1,234,567.5", comma_thousands, 18, 2),
            Ok(123456750)
        );
        assert!(parse_decimal("1 5", fr(), 18, 2).is_err());
        assert!(parse_decimal("1 ,5", fr(), 18, 2).is_err());
        assert!(parse_decimal("1234 567", fr(), 18, 2).is_err());
        assert!(parse_decimal("1 23 456", fr(), 18, 2).is_err());
        assert_eq!(parse_decimal("1 000 000,00", fr(), 18, 2), Ok(100000000));
        assert!(parse_i64("1 5", fr()).is_err());
    }

    #[test]
    fn pathological_inputs_are_fast_and_safe() {
        let en = NumberFormat::default();
        assert_eq!(parse_decimal("0e2000000000", en, 18, 2), Ok(0));
        assert!(parse_decimal("1e2000000000", en, 18, 2).is_err());
        assert!(parse_decimal("170141183460469231731687303715884105727.5", en, 38, 0).is_err());
        assert_eq!(parse_i64("-9223372036854775808", en), Ok(i64::MIN));
        assert_eq!(parse_i64(",0", fr()), Ok(0));
        assert!(parse_f64("1e400", en).is_err());
        assert!(parse_decimal("+", en, 18, 2).is_err());
        assert!(parse_decimal("\u{2212}", en, 18, 2).is_err());
    }

    #[test]
    fn precision_overflow_is_an_error() {
        let en = NumberFormat::default();
        assert_eq!(
            parse_decimal("9999999999999999.99", en, 18, 2),
            Ok(999999999999999999)
        );
        assert!(parse_decimal("99999999999999999.99", en, 18, 2).is_err());
        assert!(parse_decimal("1e40", en, 18, 2).is_err());
    }

    #[test]
    fn integers_and_floats() {
        assert_eq!(parse_i64("34 969", fr()), Ok(34969));
        assert_eq!(parse_i64("2024", NumberFormat::default()), Ok(2024));
        assert_eq!(parse_i64("12,0", fr()), Ok(12));
        assert!(parse_i64("12,5", fr()).is_err());
        assert_eq!(parse_f64("0,104085575397717", fr()), Ok(0.104085575397717));
        assert_eq!(parse_f64("-1,5", fr()), Ok(-1.5));
    }

    #[test]
    fn plain_fast_path_agrees_with_the_general_path() {
        let en = NumberFormat::default();
        for (t, f) in [
            ("96971,23", fr()),
            ("-0,01", fr()),
            ("+3", fr()),
            (",5", fr()),
            ("5,", fr()),
            ("0,00", fr()),
            ("-0,00", fr()),
            ("9999999999999999,99", fr()),
            ("99999999999999999,99", fr()),
            ("12.5", en),
            ("007", en),
        ] {
            let mut buf = String::new();
            let general = split(t, f, &mut buf).map(|p| {
                let v: i128 = format!("{}{:0<2}", p.int, p.frac).parse().unwrap_or(0);
                if p.negative { -v } else { v }
            });
            let fast = plain_decimal(t.as_bytes(), f, 18, 2).expect("plain");
            match (general, fast) {
                (Ok(g), Ok(v)) if v.abs() < 10i128.pow(18) => assert_eq!(g, v, "{t}"),
                (_, Err(e)) => assert!(e.contains("too many digits"), "{t}: {e}"),
                other => panic!("{t}: {other:?}"),
            }
        }
        assert!(plain_decimal(b"1 000,00", fr(), 18, 2).is_none());
        assert!(plain_decimal(b"1,005", fr(), 18, 2).is_none());
        assert!(plain_decimal(b"1e3", en, 18, 2).is_none());
        assert!(plain_decimal(b"-", fr(), 18, 2).is_none());
        assert_eq!(parse_i64("2024", fr()), Ok(2024));
        assert_eq!(parse_i64("0042", fr()), Ok(42));
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_decimal(9697123, 2), "96971.23");
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(42, 0), "42");
    }

    /// Issue 20: every exact value written the ways sources write it reads back as itself.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// `value` (scaled by `scale`) written with `decimal`, a thousands separator between
        /// groups of 3 (`sep`, or none), and a sign style.
        fn write(value: i128, scale: u32, decimal: char, sep: Option<char>, sign: u8) -> String {
            let digits = value.unsigned_abs().to_string();
            let digits = format!("{digits:0>width$}", width = scale as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - scale as usize);
            let mut grouped = String::new();
            for (i, c) in int.chars().enumerate() {
                if i > 0
                    && (int.len() - i) % 3 == 0
                    && let Some(s) = sep
                {
                    grouped.push(s);
                }
                grouped.push(c);
            }
            if !frac.is_empty() {
                grouped.push(decimal);
                grouped.push_str(frac);
            }
            match (value < 0, sign % 3) {
                (true, 0) => format!("-{grouped}"),
                (true, 1) => format!("\u{2212}{grouped}"),
                (true, _) => format!("({grouped})"),
                (false, 1) => format!("+{grouped}"),
                (false, 2) => format!(" {grouped}\u{a0}"),
                (false, _) => grouped,
            }
        }

        fn formats() -> impl Strategy<Value = (NumberFormat, Option<char>)> {
            prop_oneof![
                Just((NumberFormat::french(), None)),
                Just((NumberFormat::french(), Some(' '))),
                Just((NumberFormat::french(), Some('\u{a0}'))),
                Just((NumberFormat::french(), Some('\u{202f}'))),
                Just((
                    NumberFormat {
                        decimal: ',',
                        thousands: Some('.')
                    },
                    Some('.')
                )),
                Just((NumberFormat::default(), None)),
                Just((
                    NumberFormat {
                        decimal: '.',
                        thousands: Some(',')
                    },
                    Some(',')
                )),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn written_then_parsed_is_the_same_decimal(
                value in -(10i128.pow(18) - 1)..10i128.pow(18),
                scale in 0u32..=6,
                (fmt, sep) in formats(),
                sign in 0u8..3,
            ) {
                let text = write(value, scale, fmt.decimal, sep, sign);
                prop_assert_eq!(parse_decimal(&text, fmt, 18, scale as i8), Ok(value), "{}", text);
                // More fraction digits than the scale: rounded half away from zero.
                if scale > 0 {
                    let coarser = parse_decimal(&text, fmt, 18, scale as i8 - 1);
                    let half = if value < 0 { -5 } else { 5 };
                    prop_assert_eq!(coarser, Ok((value + half) / 10), "{}", text);
                }
            }

            #[test]
            fn written_then_parsed_is_the_same_integer(
                value in any::<i64>().prop_filter("a sign to flip", |v| *v != i64::MIN),
                (fmt, sep) in formats(),
                sign in 0u8..3,
            ) {
                let text = write(value as i128, 0, fmt.decimal, sep, sign);
                prop_assert_eq!(parse_i64(&text, fmt), Ok(value), "{}", text);
            }

            /// Bulk amounts (digits, a decimal comma, a sign) on both sides of the 18 digits
            /// the plain path reads as a u64: the exact value, or too many digits for the
            /// precision.
            #[test]
            fn plain_amounts_are_exact_at_every_width(
                int in "[0-9]{0,21}",
                frac in "[0-9]{0,6}",
                scale in 0i8..=6,
                precision in 1u8..=38,
                negative in any::<bool>(),
            ) {
                let frac = &frac[..frac.len().min(scale as usize)];
                prop_assume!(!(int.is_empty() && frac.is_empty()));
                let text = format!("{}{int},{frac}", if negative { "-" } else { "" });
                let zeros = "0".repeat(scale as usize - frac.len());
                let value: i128 = format!("0{int}{frac}{zeros}").parse().unwrap();
                let parsed = parse_decimal(&text, NumberFormat::french(), precision, scale);
                if value >= 10i128.pow(precision.into()) {
                    prop_assert!(parsed.unwrap_err().contains("too many digits"), "{}", text);
                } else {
                    prop_assert_eq!(parsed, Ok(if negative { -value } else { value }), "{}", text);
                }
            }

            /// Any text: an answer (a value or a reason), never a panic, for every format.
            #[test]
            fn any_text_is_a_value_or_a_reason(text in any::<String>(), noise in "[-+−() ,.eE0-9\u{a0}\u{202f}]{0,24}") {
                for (fmt, _) in [
                    (NumberFormat::french(), ()),
                    (NumberFormat::default(), ()),
                    (NumberFormat { decimal: ',', thousands: Some('.') }, ()),
                ] {
                    for t in [text.as_str(), noise.as_str()] {
                        for scale in [0i8, 2, 6] {
                            let _ = parse_decimal(t, fmt, 18, scale);
                        }
                        let _ = parse_i64(t, fmt);
                        let _ = parse_f64(t, fmt);
                    }
                }
            }
        }
    }
}
