//! Numbers the French way (`1 566 738,72 €`, narrow no-break space between thousands) and the
//! plain way (`1566738.72`) from exact cents.

/// Thousands separator: U+202F NARROW NO-BREAK SPACE, as the Imprimerie nationale does.
const THIN: &str = "\u{202f}";

fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(THIN);
        }
        out.push(ch);
    }
    out
}

pub fn int_fr(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}", group(&v.unsigned_abs().to_string()))
}

pub fn cents_plain(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

pub fn cents_fr(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    format!("{sign}{},{:02}", group(&(a / 100).to_string()), a % 100)
}

/// Whole euros, for charts and maps where cents are noise.
pub fn euros_fr(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    format!("{sign}{}", group(&((a + 50) / 100).to_string()))
}

pub fn float_fr(v: f64, decimals: u8) -> String {
    let s = format!("{:.prec$}", v.abs(), prec = decimals as usize);
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let sign = if v < 0.0 && s.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{}", group(int))
    } else {
        format!("{sign}{},{frac}", group(int))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_numbers() {
        assert_eq!(cents_fr(156_673_872), "1\u{202f}566\u{202f}738,72");
        assert_eq!(cents_fr(-5), "-0,05");
        assert_eq!(cents_plain(-156_673_872), "-1566738.72");
        assert_eq!(cents_plain(7), "0.07");
        assert_eq!(int_fr(76_320), "76\u{202f}320");
        assert_eq!(int_fr(999), "999");
        assert_eq!(euros_fr(49_481), "495");
        assert_eq!(float_fr(66.714, 2), "66,71");
        assert_eq!(float_fr(-0.001, 2), "0,00");
        assert_eq!(float_fr(1234.5, 1), "1\u{202f}234,5");
        assert_eq!(
            cents_fr(i64::MIN),
            "-92\u{202f}233\u{202f}720\u{202f}368\u{202f}547\u{202f}758,08"
        );
    }
}
