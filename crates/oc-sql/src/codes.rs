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

    /// Issue 20: every commune code, written the ways DGFiP files write its parts, reads back
    /// as itself; any text at all gives a well-formed code or nothing, never a panic.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A commune code: (its département as INSEE writes it, its rank in it).
        fn commune() -> impl Strategy<Value = (String, u16)> {
            prop_oneof![
                // metropolitan départements 01–95 but 20, ranks 1–999
                (1u16..=95)
                    .prop_filter("20 is 2A and 2B", |d| *d != 20)
                    .prop_flat_map(|d| (Just(format!("{d:02}")), 1u16..=999)),
                (prop_oneof![Just("2A"), Just("2B")], 1u16..=999)
                    .prop_map(|(d, r)| (d.to_string(), r)),
                // overseas: the rank's first digit is the département's last (971 → 101–199)
                (1u16..=6).prop_flat_map(|d| (Just(format!("97{d}")), (d * 100)..=(d * 100 + 99))),
            ]
        }

        /// `d` as a DGFiP file may write it: `038`, `38`, `8` for 08; `101` or `971` overseas.
        fn written_dep(d: &str, style: u8) -> String {
            match (d.len(), style % 3) {
                (3, 0) => format!("10{}", &d[2..]),
                (3, _) => d.to_string(),
                (_, 0) => format!("0{d}"),
                (_, 1) if d.starts_with('0') => d[1..].to_string(),
                _ => d.to_string(),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn written_then_read_is_the_same_code(
                (dep, rank) in commune(),
                dep_style in 0u8..3,
                padded in any::<bool>(),
            ) {
                let code = if dep.len() == 3 {
                    format!("{}{rank:03}", &dep[..2])
                } else {
                    format!("{dep}{rank:03}")
                };
                let ndept = written_dep(&dep, dep_style);
                let rank_text = if padded { format!("{rank:03}") } else { rank.to_string() };
                prop_assert_eq!(dep_from_dgfip(&ndept), Some(dep.clone()), "{}", ndept);
                prop_assert_eq!(
                    insee_from_dgfip(&format!(" {ndept}"), &format!("{rank_text} ")),
                    Some(code),
                    "{} {}", ndept, rank_text
                );
            }

            #[test]
            fn any_text_gives_a_well_formed_code_or_none(ndept in ".{0,6}", rank in ".{0,6}") {
                if let Some(c) = insee_from_dgfip(&ndept, &rank) {
                    let b = c.as_bytes();
                    prop_assert_eq!(b.len(), 5, "{}", c);
                    prop_assert!(b[2..].iter().all(u8::is_ascii_digit), "{}", c);
                    prop_assert!(
                        b[..2].iter().all(u8::is_ascii_digit) || &c[..2] == "2A" || &c[..2] == "2B",
                        "{}", c
                    );
                    prop_assert!(!c.starts_with("00") && !c.starts_with("20"), "{}", c);
                }
                if let Some(d) = dep_from_dgfip(&ndept) {
                    prop_assert!(d.len() == 2 || (d.len() == 3 && d.starts_with("97")), "{}", d);
                }
            }
        }
    }
}
