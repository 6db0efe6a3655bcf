//! French and English number text: never a panic, and an amount parsed is written back and
//! parsed again to the same value (the exact round trip the lake's money relies on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oc_extract::number::{NumberFormat, format_decimal, parse_decimal, parse_f64, parse_i64};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let fmt = match pick % 4 {
        0 => NumberFormat::french(),
        1 => NumberFormat::default(),
        2 => NumberFormat {
            decimal: ',',
            thousands: Some('.'),
        },
        _ => NumberFormat {
            decimal: '.',
            thousands: Some(','),
        },
    };
    // scale 0 to 6 and precision 18 to 25, from the first byte with the format
    let scale = (pick / 4 % 7) as i8;
    let precision = 18 + pick / 32;
    let _ = parse_i64(text, fmt);
    let _ = parse_f64(text, fmt);
    if let Ok(v) = parse_decimal(text, fmt, precision, scale) {
        let back = format_decimal(v, scale);
        assert_eq!(
            parse_decimal(&back, NumberFormat::default(), precision, scale),
            Ok(v),
            "{text:?} -> {v} (scale {scale}) -> {back:?}"
        );
    }
});
