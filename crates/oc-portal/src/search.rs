//! Finding a collectivité: by name (prefix of the name or of any of its words, accents, case,
//! hyphens and apostrophes ignored, `st`/`ste` read as `saint`/`sainte`), INSEE code, SIREN,
//! postal code, or an old commune code. The index is a sorted list of name keys, so a lookup
//! is two binary searches whatever the number of communes.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::model::{Collectivites, Level};

/// The comparison form of a query being typed: as [`normalize`], except that a last word
/// not yet followed by a space is left as typed ("st" may be the start of "strasbourg").
pub fn normalize_query(q: &str) -> String {
    let n = normalize(q);
    let typing = q.ends_with(|c: char| c.is_alphanumeric());
    let last = fold(q).split_whitespace().last().unwrap_or("").to_string();
    match (typing, n.rsplit_once(' ')) {
        (false, _) => n,
        (true, Some((head, _))) => format!("{head} {last}"),
        (true, None) => last,
    }
}

/// Lowercase, accents dropped, every non-alphanumeric character a space.
fn fold(s: &str) -> String {
    let mut folded = String::with_capacity(s.len());
    for ch in s.nfd() {
        if is_combining_mark(ch) {
            continue;
        }
        match ch {
            'œ' | 'Œ' => folded.push_str("oe"),
            'æ' | 'Æ' => folded.push_str("ae"),
            c if c.is_alphanumeric() => folded.extend(c.to_lowercase()),
            _ => folded.push(' '),
        }
    }
    folded
}

/// The comparison form of a name or a query: lowercase ASCII-folded words separated by one
/// space, abbreviations expanded.
pub fn normalize(s: &str) -> String {
    fold(s)
        .split_whitespace()
        .map(|w| match w {
            "st" => "saint",
            "ste" => "sainte",
            "sts" => "saints",
            "stes" => "saintes",
            w => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How well a result matches, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    Code,
    ExactName,
    NamePrefix,
    WordPrefix,
    PostalCode,
    OldCode,
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub entity: usize,
    pub how: Match,
}

/// A query read as a code (INSEE, SIREN, postal, old commune code): `01 039` is `01039`.
pub fn code_query(query: &str) -> String {
    query.trim().to_uppercase().replace(' ', "")
}

#[derive(Default)]
pub struct SearchIndex {
    /// (key, entity, key starts at the first word of the name), sorted by key.
    keys: Vec<(String, usize, bool)>,
}

impl SearchIndex {
    pub fn build(c: &Collectivites) -> SearchIndex {
        let mut keys = Vec::new();
        for (i, e) in c.entities.iter().enumerate() {
            let name = normalize(&e.nom);
            let mut start = 0;
            let mut first = true;
            loop {
                keys.push((name[start..].to_string(), i, first));
                first = false;
                match name[start..].find(' ') {
                    Some(sp) => start += sp + 1,
                    None => break,
                }
            }
        }
        keys.sort();
        SearchIndex { keys }
    }

    /// At most `limit` results per level, best matches first, then larger populations.
    /// A query that is a code is looked up as [`code_query`] writes it.
    pub fn search(&self, c: &Collectivites, query: &str, limit: usize) -> Vec<Hit> {
        let q = query.trim();
        let mut hits: Vec<Hit> = Vec::new();
        let code = code_query(q);
        if !code.is_empty() && code.len() <= 9 && code.chars().all(|ch| ch.is_ascii_alphanumeric())
        {
            for level in Level::ALL {
                if let Some(&i) = c.index.get(&(level, code.clone())) {
                    hits.push(Hit {
                        entity: i,
                        how: Match::Code,
                    });
                }
            }
            if let Some(&i) = c.by_siren.get(&code) {
                hits.push(Hit {
                    entity: i,
                    how: Match::Code,
                });
            }
            if let Some(&i) = c.old_codes.get(&code) {
                hits.push(Hit {
                    entity: i,
                    how: Match::OldCode,
                });
            }
            for &i in c.by_postcode.get(&code).into_iter().flatten() {
                hits.push(Hit {
                    entity: i,
                    how: Match::PostalCode,
                });
            }
        }
        let key = normalize_query(q);
        if !key.is_empty() {
            let from = self
                .keys
                .partition_point(|(k, _, _)| k.as_str() < key.as_str());
            for (k, i, first) in self.keys[from..]
                .iter()
                .take_while(|(k, _, _)| k.starts_with(&key))
            {
                let how = match (first, k.len() == key.len()) {
                    (true, true) => Match::ExactName,
                    (true, false) => Match::NamePrefix,
                    _ => Match::WordPrefix,
                };
                hits.push(Hit { entity: *i, how });
            }
        }
        hits.sort_by(|a, b| {
            let (ea, eb) = (&c.entities[a.entity], &c.entities[b.entity]);
            a.how
                .cmp(&b.how)
                .then(eb.population.cmp(&ea.population))
                .then(ea.nom.cmp(&eb.nom))
        });
        let mut seen = std::collections::HashSet::new();
        hits.retain(|h| seen.insert(h.entity));
        let mut per_level = std::collections::HashMap::new();
        hits.retain(|h| {
            let n = per_level.entry(c.entities[h.entity].level).or_insert(0);
            *n += 1;
            *n <= limit
        });
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_accents_case_hyphens_and_abbreviations() {
        assert_eq!(normalize("Saint-Denis"), "saint denis");
        assert_eq!(normalize("st denis"), "saint denis");
        assert_eq!(normalize("  ÉCHALLON "), "echallon");
        assert_eq!(normalize("L'Haÿ-les-Roses"), "l hay les roses");
        assert_eq!(normalize("Œuilly"), "oeuilly");
        assert_eq!(normalize("Ste-Marie"), "sainte marie");
        assert_eq!(normalize("'; DROP TABLE--"), "drop table");
    }

    #[test]
    fn a_word_being_typed_is_not_expanded() {
        assert_eq!(normalize_query("st"), "st");
        assert_eq!(normalize_query("Ste"), "ste");
        assert_eq!(normalize_query("st denis"), "saint denis");
        assert_eq!(normalize_query("st-"), "saint");
        assert_eq!(normalize_query("saint-d"), "saint d");
        assert_eq!(normalize_query("Saint Ét"), "saint et");
    }
}
