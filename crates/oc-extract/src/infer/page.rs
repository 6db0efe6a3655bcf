//! A first pipeline for a table of a web page: the page decoded (declared encoding, else
//! UTF-8, else windows-1252, said so), the table with the most cells (or the one named), its
//! layout found from its cells, then its values read by the page reader.

use oc_spec::Encoding;

use super::layout::table_layout;
use super::render::{Draft, Opt};
use super::sample::{choose, layout_options, probe_header, sample_values};
use super::{Request, Sample};
use crate::sink::ExtractError;

pub(super) fn sample(req: &Request, draft: &mut Draft) -> Result<Sample, ExtractError> {
    let (bytes, _, _) = crate::html::load(&req.path, &req.shown, None, None)?;
    let (doc, encoding) = match crate::html::parse_page(&bytes, None, req.encoding) {
        Ok((doc, _)) => (doc, req.encoding),
        Err(utf8) => match crate::html::parse_page(&bytes, None, Some(Encoding::Windows1252)) {
            Ok((doc, _)) if req.encoding.is_none() => {
                draft.notes.push(
                    "the page declares no encoding and is not UTF-8: read as windows-1252, the legacy encoding of French pages"
                        .into(),
                );
                (doc, Some(Encoding::Windows1252))
            }
            _ => return Err(ExtractError::new(&req.shown, None, utf8)),
        },
    };
    let grids: Vec<Vec<Vec<String>>> = crate::html::select::list(&doc, usize::MAX)
        .into_iter()
        .map(|t| t.preview)
        .collect();
    drop(doc);
    let sizes: Vec<(String, usize)> = grids
        .iter()
        .enumerate()
        .map(|(i, g)| {
            (
                (i + 1).to_string(),
                g.iter().map(|r| super::layout::filled(r)).sum(),
            )
        })
        .collect();
    let i = choose(req, req.table, &sizes, "table", "--table N", draft)?;
    draft.option("table", Opt::Number(i + 1), None);
    if let Some(e) = encoding {
        draft.option("encoding", Opt::Word(e.name()), None);
    }
    layout_options(draft, &table_layout(&grids[i]));
    let headers = probe_header(req, draft)?;
    sample_values(req, draft, headers, true)
}
