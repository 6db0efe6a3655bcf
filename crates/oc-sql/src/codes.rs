//! Code conversions between DGFiP and INSEE conventions (pure functions, used by the UDFs).
//!
//! DGFiP writes départements on 3 characters (`038`, `02A`, overseas `101`…`106` for 971…976)
//! and communes as their rank inside the département (`185`); INSEE codes are `38185`,
//! `2A004`, `97101`.

/// `038` → `38`, `02A` → `2A`, `101` → `971`, `971` → `971`, `38` → `38`. `None` if unknown.
pub fn dep_from_dgfip(ndept: &str) -> Option<String> {
    let d = ndept.trim();
    let b = d.as_bytes();
    match b.len() {
        1 if b[0].is_ascii_digit() => Some(format!("0{d}")),
        2 if is_dep2(d) => Some(d.to_string()),
        3 if b[0] == b'0' && is_dep2(&d[1..]) => Some(d[1..].to_string()),
        3 if d.starts_with("10") && (b'1'..=b'6').contains(&b[2]) => {
            Some(format!("97{}", b[2] as char))
        }
        3 if d.starts_with("97") && (b'1'..=b'6').contains(&b[2]) => Some(d.to_string()),
        _ => None,
    }
}

fn is_dep2(d: &str) -> bool {
    d == "2A"
        || d == "2B"
        || (d.len() == 2 && d.bytes().all(|c| c.is_ascii_digit()) && d != "00" && d != "20")
}

/// (`038`, `185`) → `38185`; (`02A`, `004`) → `2A004`; (`101` or `971`, `101`) → `97101`.
pub fn insee_from_dgfip(ndept: &str, rank: &str) -> Option<String> {
    let dep = dep_from_dgfip(ndept)?;
    let r = rank.trim();
    if r.is_empty() || r.len() > 3 || !r.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let r = format!("{r:0>3}");
    if dep.len() == 3 {
        // Overseas: the rank's first digit repeats the département's last one (971 → 1xx).
        if r.as_bytes()[0] != dep.as_bytes()[2] {
            return None;
        }
        Some(format!("{}{}", &dep[..2], r))
    } else {
        Some(format!("{dep}{r}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departements() {
        assert_eq!(dep_from_dgfip("038").as_deref(), Some("38"));
        assert_eq!(dep_from_dgfip("02A").as_deref(), Some("2A"));
        assert_eq!(dep_from_dgfip("02B").as_deref(), Some("2B"));
        assert_eq!(dep_from_dgfip("101").as_deref(), Some("971"));
        assert_eq!(dep_from_dgfip("106").as_deref(), Some("976"));
        assert_eq!(dep_from_dgfip("974").as_deref(), Some("974"));
        assert_eq!(dep_from_dgfip("38").as_deref(), Some("38"));
        assert_eq!(dep_from_dgfip("1").as_deref(), Some("01"));
        assert_eq!(dep_from_dgfip("107"), None);
        assert_eq!(dep_from_dgfip("020"), None);
        assert_eq!(dep_from_dgfip(""), None);
    }

    #[test]
    fn communes() {
        assert_eq!(insee_from_dgfip("038", "185").as_deref(), Some("38185"));
        assert_eq!(insee_from_dgfip("02A", "004").as_deref(), Some("2A004"));
        assert_eq!(insee_from_dgfip("101", "101").as_deref(), Some("97101"));
        assert_eq!(insee_from_dgfip("971", "101").as_deref(), Some("97101"));
        assert_eq!(insee_from_dgfip("104", "411").as_deref(), Some("97411"));
        assert_eq!(insee_from_dgfip("001", "1").as_deref(), Some("01001"));
        assert_eq!(insee_from_dgfip("101", "201"), None);
        assert_eq!(insee_from_dgfip("038", "18A"), None);
        assert_eq!(insee_from_dgfip("999", "001"), None);
    }
}
