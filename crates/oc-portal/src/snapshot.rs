//! One loaded release: its catalog, its collectivités with their figures, and the indexes
//! built from them (search, strates). Pages read a snapshot; a new release makes a new one.

use crate::error::LoadError;
use crate::load;
use crate::model::Collectivites;
use crate::release::{Catalog, Latest, ReleaseRoot};
use crate::search::SearchIndex;
use crate::strate::Strates;

pub struct Snapshot {
    pub latest: Latest,
    pub catalog: Catalog,
    pub c: Collectivites,
    pub search: SearchIndex,
    pub strates: Strates,
}

impl Snapshot {
    pub async fn load(root: &ReleaseRoot, latest: Latest) -> Result<Snapshot, LoadError> {
        let catalog = root.catalog(&latest).await?;
        let c = load::load(root, &catalog).await?;
        for d in &catalog.datasets {
            if !load::REQUIRED.contains(&d.name.as_str()) {
                root.verify(&catalog.release, d).await?;
            }
        }
        let search = SearchIndex::build(&c);
        let strates = Strates::build(&c);
        Ok(Snapshot {
            latest,
            catalog,
            c,
            search,
            strates,
        })
    }

    /// `2026-12-04` from the release's creation time.
    pub fn release_date(&self) -> &str {
        self.catalog
            .created_at
            .get(..10)
            .unwrap_or(&self.catalog.created_at)
    }
}
