//! The one interface to a PDF parser, and its pdf_oxide implementation.

use crate::Error;
use crate::model::{Char, Page, Segment};
use crate::nesting;
use pdf_oxide::PdfDocument;
use pdf_oxide::elements::{PathContent, PathOperation};
use pdf_oxide::object::{Object, ObjectRef};
use std::collections::HashSet;
use std::path::Path;

/// What the table finders need from a PDF library; another parser can replace pdf_oxide by
/// implementing it.
pub trait Backend {
    fn page_count(&self) -> usize;
    /// Page `number` (1-based) in the displayed frame (see [`crate::model`]).
    fn page(&self, number: usize) -> Result<Page, Error>;
}

pub struct OxideBackend {
    doc: PdfDocument,
    pages: usize,
}

impl OxideBackend {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::Open(format!("{}: {e}", path.display())))?;
        Self::from_bytes(bytes).map_err(|e| match e {
            Error::Open(m) => Error::Open(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        // pdf_oxide is a large parser; a panic inside it on a hostile file must not take the
        // caller down.
        let doc = oc_contain::catch(move || PdfDocument::from_bytes(bytes))
            .map_err(|panic| Error::Open(format!("the PDF parser crashed on this file ({panic})")))?
            .map_err(|e| Error::Open(format!("not a readable PDF ({e})")))?;
        let pages = doc
            .page_count()
            .map_err(|e| Error::Open(format!("cannot read the page tree ({e})")))?;
        Ok(OxideBackend { doc, pages })
    }
}

/// The most Form XObjects looked at for one page (forms drawing forms).
const MAX_FORMS: usize = 10_000;

/// Whether a Form XObject the page draws, or one those draw, nests deeper than `max`:
/// pdf_oxide parses their streams inside `extract_chars` as it parses the page's. Only
/// unencrypted files: pdf_oxide keeps its decryption to itself, so the streams of an
/// encrypted file would be read undeciphered, and its forms are left to the parser.
fn forms_nest_deeper_than(doc: &PdfDocument, idx: usize, max: usize) -> bool {
    if doc.is_encrypted() {
        return false;
    }
    let mut todo: Vec<Object> = doc
        .get_page(idx)
        .ok()
        .and_then(|page| page.as_dict()?.get("Resources").cloned())
        .into_iter()
        .collect();
    let mut seen: HashSet<ObjectRef> = HashSet::new();
    while let Some(resources) = todo.pop() {
        let Some(xobjects) = doc
            .resolve_object(&resources)
            .ok()
            .and_then(|r| doc.resolve_object(r.as_dict()?.get("XObject")?).ok())
        else {
            continue;
        };
        for r in xobjects.as_dict().into_iter().flat_map(|d| d.values()) {
            let Some(r) = r.as_reference() else { continue };
            if seen.len() >= MAX_FORMS {
                return false;
            }
            if !seen.insert(r) {
                continue;
            }
            let Ok(form) = doc.load_object(r) else {
                continue;
            };
            let Some(dict) = form.as_dict() else { continue };
            if dict.get("Subtype").and_then(Object::as_name) != Some("Form") {
                continue;
            }
            if form
                .decode_stream_data()
                .is_ok_and(|data| nesting::nests_deeper_than(&data, max))
            {
                return true;
            }
            todo.extend(dict.get("Resources").cloned());
        }
    }
    false
}

/// Maps unrotated PDF user space (y up) to the displayed frame (y down).
#[derive(Clone, Copy)]
struct Frame {
    llx: f32,
    lly: f32,
    urx: f32,
    ury: f32,
    rot: i32,
}

impl Frame {
    fn map(&self, x: f32, y: f32) -> (f32, f32) {
        match self.rot {
            90 => (y - self.lly, x - self.llx),
            180 => (self.urx - x, y - self.lly),
            270 => (self.ury - y, self.urx - x),
            _ => (x - self.llx, self.ury - y),
        }
    }
    fn size(&self) -> (f32, f32) {
        let (w, h) = (self.urx - self.llx, self.ury - self.lly);
        if self.rot == 90 || self.rot == 270 {
            (h, w)
        } else {
            (w, h)
        }
    }
    /// Box (x, y, w, h in y-up user space) to displayed (x0, top, x1, bottom).
    fn map_box(&self, x: f32, y: f32, w: f32, h: f32) -> (f32, f32, f32, f32) {
        let (ax, ay) = self.map(x, y);
        let (bx, by) = self.map(x + w, y + h);
        (ax.min(bx), ay.min(by), ax.max(bx), ay.max(by))
    }
}

/// Box of a glyph of advance `w` and size `size` whose baseline origin is `o` and text direction
/// `phi` (degrees counterclockwise) in the displayed frame (y down).
fn glyph_box(o: (f32, f32), phi: f32, w: f32, size: f32) -> (f32, f32, f32, f32) {
    let r = phi.to_radians();
    let u = (r.cos(), -r.sin());
    let v = (-r.sin() * size, -r.cos() * size);
    let pts = [
        o,
        (o.0 + u.0 * w, o.1 + u.1 * w),
        (o.0 + v.0, o.1 + v.1),
        (o.0 + u.0 * w + v.0, o.1 + u.1 * w + v.1),
    ];
    let x0 = pts.iter().map(|p| p.0).fold(f32::MAX, f32::min);
    let x1 = pts.iter().map(|p| p.0).fold(f32::MIN, f32::max);
    let y0 = pts.iter().map(|p| p.1).fold(f32::MAX, f32::min);
    let y1 = pts.iter().map(|p| p.1).fold(f32::MIN, f32::max);
    (x0, y0, x1, y1)
}

/// Glyphs without a known advance get the distance to the next glyph of their line (when it
/// is close), so that word gaps stay measurable.
fn refine_widths(chars: &mut [Char], idx: &[usize]) {
    if idx.is_empty() {
        return;
    }
    // along-text coordinate and line key for the four right-angle directions
    let key = |c: &Char| -> Option<(i32, i64, f32)> {
        let d = ((c.rotation / 90.0).round() as i32).rem_euclid(4);
        match d {
            0 => Some((d, (c.bottom * 2.0).round() as i64, c.x0)),
            1 => Some((d, (c.x1 * 2.0).round() as i64, -c.bottom)),
            2 => Some((d, (c.top * 2.0).round() as i64, -c.x1)),
            _ => Some((d, (c.x0 * 2.0).round() as i64, c.top)),
        }
        .filter(|_| (c.rotation / 90.0 - (c.rotation / 90.0).round()).abs() < 0.05)
    };
    let mut ks: Vec<(i32, i64, f32, usize)> = idx
        .iter()
        .filter_map(|&i| key(&chars[i]).map(|(d, l, a)| (d, l, a, i)))
        .collect();
    ks.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
    for w in ks.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.0, a.1) != (b.0, b.1) {
            continue;
        }
        let size = chars[a.3].size.max(1.0);
        let adv = b.2 - a.2;
        if adv > 0.05 * size && adv < 1.1 * size {
            let c = &mut chars[a.3];
            match a.0 {
                0 => c.x1 = c.x0 + adv,
                1 => c.top = c.bottom - adv,
                2 => c.x0 = c.x1 - adv,
                _ => c.bottom = c.top + adv,
            }
        }
    }
}

/// Glyphs that a font without a usable Unicode mapping typically yields.
fn looks_unmapped(c: char) -> bool {
    // fonts without a ToUnicode map come out as raw codes: control characters (tabs and
    // line breaks drawn as glyphs), private-use code points or U+FFFD
    c == '\u{FFFD}' || ('\u{E000}'..='\u{F8FF}').contains(&c) || c.is_control()
}

impl Backend for OxideBackend {
    fn page_count(&self) -> usize {
        self.pages
    }

    fn page(&self, number: usize) -> Result<Page, Error> {
        if number == 0 || number > self.pages {
            return Err(Error::Page {
                page: number,
                pages: self.pages,
            });
        }
        let idx = number - 1;
        let doc = &self.doc;
        // Only pdf_oxide's calls are guarded: a panic in our own processing below is a bug of
        // ours, to be reported as such, not as the file's fault.
        let parse = || -> Result<_, String> {
            let media_box = doc.get_page_media_box(idx).map_err(|e| e.to_string())?;
            let rot = doc.get_page_rotation(idx).unwrap_or(0).rem_euclid(360);
            // pdf_oxide's parser would overflow the stack, which aborts the process
            // (nesting.rs); content that cannot be read is left to it.
            let page_too_deep = doc
                .get_page_content_data(idx)
                .is_ok_and(|content| nesting::nests_deeper_than(&content, nesting::MAX_DEPTH));
            if page_too_deep || forms_nest_deeper_than(doc, idx, nesting::MAX_DEPTH) {
                return Err(format!(
                    "its content, or a form it draws, nests arrays or dictionaries more than {} \
                     levels deep, which no real page does and the PDF parser cannot read safely; the file is damaged \
                     or forged: ask its publisher for a sound copy",
                    nesting::MAX_DEPTH
                ));
            }
            let raw = doc.extract_chars(idx).map_err(|e| e.to_string())?;
            let paths = doc.extract_paths(idx).unwrap_or_default();
            Ok((media_box, rot, raw, paths))
        };
        let ((a, b, c, d), rot, raw, paths) = match oc_contain::catch(parse) {
            Ok(Ok(parsed)) => parsed,
            Ok(Err(message)) => {
                return Err(Error::Read {
                    page: number,
                    message,
                });
            }
            Err(panic) => {
                return Err(Error::Read {
                    page: number,
                    message: format!("the PDF parser crashed on this page ({panic})"),
                });
            }
        };
        let frame = Frame {
            llx: a.min(c),
            lly: b.min(d),
            urx: a.max(c),
            ury: b.max(d),
            rot,
        };
        let (width, height) = frame.size();
        let mut chars = Vec::with_capacity(raw.len());
        // glyphs whose box the parser leaves empty (rotated text): box rebuilt below
        let mut estimated: Vec<usize> = Vec::new();
        for ch in raw {
            // text direction in the displayed frame, degrees counterclockwise
            let phi = (ch.rotation_degrees - rot as f32).rem_euclid(360.0);
            let (x0, top, x1, bottom) = if ch.bbox.width > 0.0 && ch.rotation_degrees.abs() < 0.5 {
                frame.map_box(ch.bbox.x, ch.bbox.y, ch.bbox.width, ch.bbox.height)
            } else {
                let w = if ch.advance_width > 0.0 {
                    ch.advance_width
                } else {
                    0.5 * ch.font_size
                };
                if ch.advance_width <= 0.0 {
                    estimated.push(chars.len());
                }
                glyph_box(
                    frame.map(ch.origin_x, ch.origin_y),
                    phi,
                    w,
                    ch.font_size.max(ch.bbox.height),
                )
            };
            if !(x0.is_finite() && top.is_finite() && x1.is_finite() && bottom.is_finite()) {
                continue;
            }
            chars.push(Char {
                text: ch.char,
                x0,
                x1,
                top,
                bottom,
                size: ch.font_size,
                mapped: !looks_unmapped(ch.char),
                font: ch.font_name,
                rotation: phi,
            });
        }
        refine_widths(&mut chars, &estimated);
        let mut segments = Vec::new();
        for p in &paths {
            path_segments(p, &frame, &mut segments);
        }
        Ok(Page {
            number,
            width,
            height,
            rotation: rot,
            chars,
            segments,
        })
    }
}

/// Straight horizontal/vertical pieces of a path. Stroked paths give their edges; filled
/// sub-paths give their box when it is a thin bar (a rule) or the box's four edges when it
/// is a rectangle (cell backgrounds and borders drawn as filled shapes).
fn path_segments(p: &PathContent, f: &Frame, out: &mut Vec<Segment>) {
    let m = p.matrix;
    let tr = |x: f32, y: f32| -> (f32, f32) {
        let (x, y) = match m {
            Some([a, b, c, d, e, g]) => (a * x + c * y + e, b * x + d * y + g),
            None => (x, y),
        };
        f.map(x, y)
    };
    let stroked = p.stroke_color.is_some() && p.fill_color.is_none();
    let mut subpaths: Vec<Vec<(f32, f32)>> = Vec::new();
    let mut cur: Vec<(f32, f32)> = Vec::new();
    for op in &p.operations {
        match *op {
            PathOperation::MoveTo(x, y) => {
                if cur.len() > 1 {
                    subpaths.push(std::mem::take(&mut cur));
                }
                cur = vec![tr(x, y)];
            }
            PathOperation::LineTo(x, y) => cur.push(tr(x, y)),
            PathOperation::CurveTo(_, _, _, _, x, y) => {
                // curves are not rules: end the sub-path here
                if cur.len() > 1 {
                    subpaths.push(std::mem::take(&mut cur));
                }
                cur = vec![tr(x, y)];
            }
            PathOperation::Rectangle(x, y, w, h) => {
                if cur.len() > 1 {
                    subpaths.push(std::mem::take(&mut cur));
                }
                subpaths.push(vec![
                    tr(x, y),
                    tr(x + w, y),
                    tr(x + w, y + h),
                    tr(x, y + h),
                    tr(x, y),
                ]);
                cur.clear();
            }
            PathOperation::ClosePath => {
                if let Some(&first) = cur.first() {
                    cur.push(first);
                }
                if cur.len() > 1 {
                    subpaths.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if cur.len() > 1 {
        subpaths.push(cur);
    }
    for sp in subpaths {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for &(x, y) in &sp {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            continue;
        }
        let (w, h) = (x1 - x0, y1 - y0);
        if w < 3.0 && h >= 3.0 {
            let x = (x0 + x1) / 2.0;
            out.push(Segment {
                x0: x,
                y0,
                x1: x,
                y1,
            });
        } else if h < 3.0 && w >= 3.0 {
            let y = (y0 + y1) / 2.0;
            out.push(Segment {
                x0,
                y0: y,
                x1,
                y1: y,
            });
        } else if w >= 3.0 && h >= 3.0 {
            let axis_aligned = sp
                .windows(2)
                .all(|s| (s[0].0 - s[1].0).abs() < 0.5 || (s[0].1 - s[1].1).abs() < 0.5);
            if stroked || !axis_aligned {
                for s in sp.windows(2) {
                    let seg = Segment {
                        x0: s[0].0.min(s[1].0),
                        y0: s[0].1.min(s[1].1),
                        x1: s[0].0.max(s[1].0),
                        y1: s[0].1.max(s[1].1),
                    };
                    if seg.is_horizontal() || seg.is_vertical() {
                        out.push(seg);
                    }
                }
            } else if sp.len() <= 6 {
                out.push(Segment { x0, y0, x1, y1: y0 });
                out.push(Segment { x0, y0: y1, x1, y1 });
                out.push(Segment { x0, y0, x1: x0, y1 });
                out.push(Segment { x0: x1, y0, x1, y1 });
            }
        }
    }
}

/// Open a PDF file with the default backend.
pub fn open(path: &Path) -> Result<OxideBackend, Error> {
    OxideBackend::open(path)
}
