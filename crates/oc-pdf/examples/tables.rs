//! `tables FILE PAGES STRATEGY AREA|- OUTDIR [COLUMNS]`: the extraction of `opencoll pdf tables`
//! without the CLI, for quick runs over the corpus while developing the crate.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        return Err("usage: tables FILE PAGES STRATEGY AREA|- OUTDIR [COLUMNS]".into());
    }
    let pdf = oc_pdf::open(std::path::Path::new(&a[1]))?;
    let mut o = oc_pdf::Options {
        strategy: a[3].parse()?,
        ..Default::default()
    };
    o.pages = Some(oc_pdf::parse_pages(&a[2])?);
    if a[4] != "-" {
        o.area = Some(oc_pdf::parse_area(&a[4])?);
    }
    if let Some(c) = a.get(6) {
        o.columns = Some(c.split(',').map(|s| s.parse()).collect::<Result<_, _>>()?);
    }
    let stem = std::path::Path::new(&a[1])
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    for t in oc_pdf::extract(&pdf, &o)? {
        std::fs::write(
            format!("{}/{stem}.p{}.t{}.csv", a[5], t.page, t.index),
            oc_pdf::to_csv(&t),
        )?;
    }
    Ok(())
}
