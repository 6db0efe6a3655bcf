fn main() {
    let a: Vec<String> = std::env::args().collect();
    let doc = pdf_oxide::PdfDocument::open(&a[1]).unwrap();
    let p: usize = a[2].parse().unwrap();
    println!(
        "pages {} mb {:?} rot {:?}",
        doc.page_count().unwrap(),
        doc.get_page_media_box(p),
        doc.get_page_rotation(p)
    );
    let t = std::time::Instant::now();
    let chars = doc.extract_chars(p).unwrap();
    println!("chars {} in {:?}", chars.len(), t.elapsed());
    for c in chars
        .iter()
        .take(a.get(3).map(|s| s.parse().unwrap()).unwrap_or(40))
    {
        println!(
            "{:?} {:.1},{:.1} {:.1}x{:.1} f={} {:.1} rot={} o={:.1},{:.1} adv={:.1}",
            c.char,
            c.bbox.x,
            c.bbox.y,
            c.bbox.width,
            c.bbox.height,
            c.font_name,
            c.font_size,
            c.rotation_degrees,
            c.origin_x,
            c.origin_y,
            c.advance_width
        );
    }
    let t = std::time::Instant::now();
    let paths = doc.extract_paths(p).unwrap();
    println!("paths {} in {:?}", paths.len(), t.elapsed());
    for pa in paths.iter().take(20) {
        println!(
            "{:?} sw={} st={:?} fill={:?} ops={:?} m={:?}",
            pa.bbox,
            pa.stroke_width,
            pa.stroke_color.is_some(),
            pa.fill_color.is_some(),
            &pa.operations[..pa.operations.len().min(6)],
            pa.matrix
        );
    }
}
