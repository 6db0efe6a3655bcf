//! A release's tables turned into the portal's model: the geography of the latest COG vintage
//! (`ref.regions`, `ref.departements`, `ref.communes`, `ref.epci_membres`), the figures of
//! `finances.fiche` and OFGL's published agrégats of `finances.agregats`. Columns are found by
//! name and cast once per batch, so a release with more columns still loads.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};

use crate::error::LoadError;
use crate::model::{Collectivites, Entity, INDICATORS, Level, Merger, Year};
use crate::release::{Catalog, CatalogDataset, Part, ReleaseRoot};

/// The datasets the portal reads; publishing them is what makes a release portal-ready.
pub const REQUIRED: [&str; 6] = [
    "ref.regions",
    "ref.departements",
    "ref.communes",
    "ref.epci_membres",
    "finances.fiche",
    "finances.agregats",
];

/// When old commune codes ceased to be communes: read when the release has it (older releases
/// do not), for the note an old code's search and fiche show.
pub const MERGERS: &str = "ref.fusions_communes";
/// Its `nature` of a code that changed while the commune stayed (the other is `fusion`).
const RECODED: &str = "changement de code";

fn dataset<'a>(catalog: &'a Catalog, name: &str) -> Result<&'a CatalogDataset, LoadError> {
    catalog
        .datasets
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| LoadError::Missing(name.to_string()))
}

/// One column of a batch cast to a known type (or a partition value repeated).
enum Col {
    Array(std::sync::Arc<dyn Array>),
    Constant(String),
}

/// A text column read in place (no string copied until a row is kept).
struct StrCol(Col);

impl StrCol {
    fn get(&self, i: usize) -> Option<&str> {
        match &self.0 {
            Col::Constant(v) => Some(v),
            Col::Array(a) => {
                let s = a.as_string::<i32>();
                s.is_valid(i).then(|| s.value(i))
            }
        }
    }

    fn owned(&self, i: usize) -> Option<String> {
        self.get(i).map(str::to_string)
    }
}

struct Batch<'a> {
    dataset: &'a str,
    part: &'a Part,
}

impl Batch<'_> {
    fn rows(&self) -> usize {
        self.part.batch.num_rows()
    }

    fn col(&self, name: &str, to: &DataType) -> Result<Col, LoadError> {
        let err = |message: String| LoadError::Column {
            dataset: self.dataset.to_string(),
            column: name.to_string(),
            message,
        };
        if let Some((_, v)) = self.part.partitions.iter().find(|(k, _)| k == name) {
            return Ok(Col::Constant(v.clone()));
        }
        let b: &RecordBatch = &self.part.batch;
        let a = b
            .column_by_name(name)
            .ok_or_else(|| err("missing from the release".into()))?;
        // Unsafe casts fail instead of turning a value that does not fit into NULL: an amount
        // beyond Decimal(18, 2) or a code that is not text is an error, never a blank.
        let opts = CastOptions {
            safe: false,
            ..Default::default()
        };
        cast_with_options(a, to, &opts)
            .map(Col::Array)
            .map_err(|e| err(e.to_string()))
    }

    fn text(&self, name: &str) -> Result<StrCol, LoadError> {
        self.col(name, &DataType::Utf8).map(StrCol)
    }

    fn int(&self, name: &str) -> Result<Vec<Option<i64>>, LoadError> {
        Ok(match self.col(name, &DataType::Int64)? {
            Col::Constant(v) => vec![v.parse().ok(); self.rows()],
            Col::Array(a) => a.as_primitive::<Int64Type>().iter().collect(),
        })
    }

    fn float(&self, name: &str) -> Result<Vec<Option<f64>>, LoadError> {
        Ok(match self.col(name, &DataType::Float64)? {
            Col::Constant(v) => vec![v.parse().ok(); self.rows()],
            Col::Array(a) => a.as_primitive::<Float64Type>().iter().collect(),
        })
    }

    /// Amounts in cents. `Decimal128(18, 2)` always fits an i64; a wider value is an error,
    /// not a wrapped number.
    fn cents(&self, name: &str) -> Result<Vec<Option<i64>>, LoadError> {
        match self.col(name, &DataType::Decimal128(18, 2))? {
            Col::Constant(_) => Err(LoadError::Column {
                dataset: self.dataset.into(),
                column: name.into(),
                message: "an amount cannot be a partition".into(),
            }),
            Col::Array(a) => a
                .as_primitive::<Decimal128Type>()
                .iter()
                .map(|v| {
                    v.map(i64::try_from)
                        .transpose()
                        .map_err(|_| LoadError::Column {
                            dataset: self.dataset.into(),
                            column: name.into(),
                            message: "amount beyond Decimal(18, 2)".into(),
                        })
                })
                .collect(),
        }
    }
}

/// The `columns` of a (small) dataset, all batches in memory.
async fn read(
    root: &ReleaseRoot,
    catalog: &Catalog,
    name: &'static str,
    columns: &[&str],
) -> Result<Vec<Part>, LoadError> {
    let mut parts = Vec::new();
    root.read_each(&catalog.release, dataset(catalog, name)?, columns, |p| {
        parts.push(p);
        Ok(())
    })
    .await?;
    Ok(parts)
}

fn batches<'a>(name: &'a str, parts: &'a [Part]) -> impl Iterator<Item = Batch<'a>> {
    parts.iter().map(move |part| Batch {
        dataset: name,
        part,
    })
}

fn split_list(s: Option<&str>) -> Vec<String> {
    s.map(|s| {
        s.split(['|', ',', ' '])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// The latest vintage present in a dataset (its `millesime` column).
fn latest_millesime(name: &str, parts: &[Part]) -> Result<Option<i64>, LoadError> {
    let mut max = None;
    for b in batches(name, parts) {
        for m in b.int("millesime")?.into_iter().flatten() {
            max = max.max(Some(m));
        }
    }
    Ok(max)
}

pub async fn load(root: &ReleaseRoot, catalog: &Catalog) -> Result<Collectivites, LoadError> {
    for name in REQUIRED {
        dataset(catalog, name)?;
    }
    let mut c = Collectivites::default();
    let communes = read(
        root,
        catalog,
        "ref.communes",
        &[
            "millesime",
            "type_commune",
            "code",
            "nom",
            "siren",
            "departement",
            "region",
            "population",
            "codes_postaux",
            "anciens_codes",
        ],
    )
    .await?;
    let millesime =
        latest_millesime("ref.communes", &communes)?.ok_or_else(|| LoadError::Column {
            dataset: "ref.communes".into(),
            column: "millesime".into(),
            message: "no rows".into(),
        })?;
    c.millesime = millesime.to_string();
    let cog = format!("COG {millesime}");

    for (name, level) in [
        ("ref.regions", Level::Region),
        ("ref.departements", Level::Departement),
    ] {
        let columns: &[&str] = match level {
            Level::Departement => &["millesime", "code", "nom", "region"],
            _ => &["millesime", "code", "nom"],
        };
        let parts = read(root, catalog, name, columns).await?;
        for b in batches(name, &parts) {
            let (m, code, nom) = (b.int("millesime")?, b.text("code")?, b.text("nom")?);
            let region = match level {
                Level::Departement => Some(b.text("region")?),
                _ => None,
            };
            for (i, m) in m.iter().enumerate() {
                let (Some(code), Some(nom)) = (code.get(i), nom.get(i)) else {
                    continue;
                };
                if *m != Some(millesime) {
                    continue;
                }
                c.insert(Entity {
                    level,
                    code: code.to_string(),
                    siren: None,
                    nom: nom.to_string(),
                    population: None,
                    population_source: format!(
                        "somme des populations municipales des communes, {cog}"
                    ),
                    departement: None,
                    region: region.as_ref().and_then(|r| r.owned(i)),
                    epci: None,
                    nature: None,
                    codes_postaux: vec![],
                    anciens_codes: vec![],
                    members: vec![],
                    years: vec![],
                });
            }
        }
    }

    for b in batches("ref.communes", &communes) {
        let m = b.int("millesime")?;
        let kind = b.text("type_commune")?;
        let (code, nom, siren) = (b.text("code")?, b.text("nom")?, b.text("siren")?);
        let (dep, reg, pop) = (
            b.text("departement")?,
            b.text("region")?,
            b.int("population")?,
        );
        let (cp, old) = (b.text("codes_postaux")?, b.text("anciens_codes")?);
        for i in 0..b.rows() {
            if m[i] != Some(millesime) || kind.get(i) != Some("COM") {
                continue;
            }
            let (Some(code), Some(nom)) = (code.get(i), nom.get(i)) else {
                continue;
            };
            c.insert(Entity {
                level: Level::Commune,
                code: code.to_string(),
                siren: siren.owned(i),
                nom: nom.to_string(),
                population: pop[i],
                population_source: format!("population municipale, {cog}"),
                departement: dep.owned(i),
                region: reg.owned(i),
                epci: None,
                nature: None,
                codes_postaux: split_list(cp.get(i)),
                anciens_codes: split_list(old.get(i)),
                members: vec![],
                years: vec![],
            });
        }
    }

    if catalog.datasets.iter().any(|d| d.name == MERGERS) {
        load_mergers(root, catalog, &mut c).await?;
    }

    let epci = read(
        root,
        catalog,
        "ref.epci_membres",
        &[
            "millesime",
            "siren_epci",
            "nom_epci",
            "nature",
            "population_totale_epci",
            "code_membre",
        ],
    )
    .await?;
    let epci_millesime = latest_millesime("ref.epci_membres", &epci)?;
    for b in batches("ref.epci_membres", &epci) {
        let m = b.int("millesime")?;
        let (siren, nom, nature) = (
            b.text("siren_epci")?,
            b.text("nom_epci")?,
            b.text("nature")?,
        );
        let (pop, member) = (b.int("population_totale_epci")?, b.text("code_membre")?);
        for i in 0..b.rows() {
            if m[i] != epci_millesime {
                continue;
            }
            let (Some(siren), Some(nom)) = (siren.get(i), nom.get(i)) else {
                continue;
            };
            let g = c.insert(Entity {
                level: Level::Groupement,
                code: siren.to_string(),
                siren: Some(siren.to_string()),
                nom: nom.to_string(),
                population: pop[i],
                population_source: format!(
                    "population totale, BANATIC {}",
                    epci_millesime.map(|m| m.to_string()).unwrap_or_default()
                ),
                departement: None,
                region: None,
                epci: None,
                nature: nature.owned(i),
                codes_postaux: vec![],
                anciens_codes: vec![],
                members: vec![],
                years: vec![],
            });
            if let Some(code) = member.get(i) {
                c.entities[g].members.push(code.to_string());
                if let Some(&ci) = c.index.get(&(Level::Commune, code.to_string())) {
                    c.entities[ci].epci = Some(siren.to_string());
                }
            }
        }
    }

    // Départements and régions: their communes and départements, summed populations.
    let mut dep_members: HashMap<String, (Vec<String>, i64)> = HashMap::new();
    let mut reg_pop: HashMap<String, i64> = HashMap::new();
    for e in c.entities.iter().filter(|e| e.level == Level::Commune) {
        if let Some(d) = &e.departement {
            let entry = dep_members.entry(d.clone()).or_default();
            entry.0.push(e.code.clone());
            entry.1 += e.population.unwrap_or(0);
        }
        if let Some(r) = &e.region {
            *reg_pop.entry(r.clone()).or_default() += e.population.unwrap_or(0);
        }
    }
    let mut reg_members: HashMap<String, Vec<String>> = HashMap::new();
    for e in c.entities.iter_mut() {
        match e.level {
            Level::Departement => {
                if let Some((members, pop)) = dep_members.remove(&e.code) {
                    e.members = members;
                    e.population = Some(pop);
                }
                if let Some(r) = &e.region {
                    reg_members
                        .entry(r.clone())
                        .or_default()
                        .push(e.code.clone());
                }
            }
            Level::Region => e.population = reg_pop.get(&e.code).copied(),
            _ => {}
        }
    }
    for e in c.entities.iter_mut().filter(|e| e.level == Level::Region) {
        e.members = reg_members.remove(&e.code).unwrap_or_default();
    }

    load_fiche(root, catalog, &mut c).await?;
    load_ofgl(root, catalog, &mut c).await?;

    for (i, e) in c.entities.iter_mut().enumerate() {
        e.years.sort_by_key(|y| y.exercice);
        e.members.sort();
        e.members.dedup();
        if let Some(s) = &e.siren {
            c.by_siren.entry(s.clone()).or_insert(i);
        }
    }
    c.index_exercices();
    for (i, e) in c.entities.iter().enumerate() {
        if e.level != Level::Commune {
            continue;
        }
        for old in &e.anciens_codes {
            if !c.index.contains_key(&(Level::Commune, old.clone())) {
                c.old_codes.insert(old.clone(), i);
            }
        }
        for cp in &e.codes_postaux {
            c.by_postcode.entry(cp.clone()).or_default().push(i);
        }
    }
    Ok(c)
}

async fn load_mergers(
    root: &ReleaseRoot,
    catalog: &Catalog,
    c: &mut Collectivites,
) -> Result<(), LoadError> {
    let columns = [
        "ancien_code",
        "nature",
        "nom",
        "commune",
        "dernier_cog",
        "premier_cog_sans",
    ];
    let parts = read(root, catalog, MERGERS, &columns).await?;
    for b in batches(MERGERS, &parts) {
        let (old, nom, into) = (b.text("ancien_code")?, b.text("nom")?, b.text("commune")?);
        let nature = b.text("nature")?;
        let (last, first) = (b.int("dernier_cog")?, b.int("premier_cog_sans")?);
        for i in 0..b.rows() {
            let (Some(o), Some(nom), Some(into), Some(l), Some(f)) =
                (old.get(i), nom.get(i), into.get(i), last[i], first[i])
            else {
                continue;
            };
            c.mergers_since = Some(c.mergers_since.map_or(l, |s| s.min(l)));
            c.mergers.insert(
                o.to_string(),
                Merger {
                    recoded: nature.get(i) == Some(RECODED),
                    nom: nom.to_string(),
                    commune: into.to_string(),
                    dernier_cog: l,
                    premier_cog_sans: f,
                },
            );
        }
    }
    Ok(())
}

/// The entity a fact row belongs to; created from the row when the geography lacks it (a
/// groupement dissolved since, say), so no published figure is hidden.
fn entity_for(
    c: &mut Collectivites,
    level: Level,
    code: &str,
    siren: Option<&str>,
    nom: Option<&str>,
) -> usize {
    let key = match level {
        Level::Groupement => siren.unwrap_or(code),
        _ => code,
    };
    if let Some(&i) = c.index.get(&(level, key.to_string())) {
        if c.entities[i].siren.is_none() {
            c.entities[i].siren = siren.map(str::to_string);
        }
        return i;
    }
    c.insert(Entity {
        level,
        code: key.to_string(),
        siren: siren.map(str::to_string),
        nom: nom.unwrap_or(key).to_string(),
        population: None,
        population_source: "absente de la géographie publiée".into(),
        departement: None,
        region: None,
        epci: None,
        nature: None,
        codes_postaux: vec![],
        anciens_codes: vec![],
        members: vec![],
        years: vec![],
    })
}

/// The year a fact row is about, its collectivité and year created as needed; None for a row
/// without niveau, code or exercice.
fn year_of<'c>(
    c: &'c mut Collectivites,
    niveau: Option<&str>,
    code: Option<&str>,
    siren: Option<&str>,
    nom: Option<&str>,
    exercice: Option<i64>,
) -> Option<&'c mut Year> {
    let (level, code, exercice) = (niveau.and_then(Level::from_niveau)?, code?, exercice?);
    let i = entity_for(c, level, code, siren, nom);
    Some(year_mut(&mut c.entities[i], exercice as i32))
}

fn year_mut(e: &mut Entity, exercice: i32) -> &mut Year {
    match e.years.iter().position(|y| y.exercice == exercice) {
        Some(i) => &mut e.years[i],
        None => {
            e.years.push(Year::new(exercice));
            e.years.last_mut().expect("just pushed")
        }
    }
}

async fn load_fiche(
    root: &ReleaseRoot,
    catalog: &Catalog,
    c: &mut Collectivites,
) -> Result<(), LoadError> {
    let mut columns = vec![
        "exercice",
        "niveau",
        "siren",
        "code",
        "nom",
        "population",
        "taux_epargne_brute_pct",
        "capacite_desendettement_annees",
    ];
    columns.extend(INDICATORS.iter().map(|i| i.key));
    let fiche = dataset(catalog, "finances.fiche")?;
    root.read_each(&catalog.release, fiche, &columns, |part| {
        let b = Batch {
            dataset: "finances.fiche",
            part: &part,
        };
        let (ex, niveau, siren, code, nom) = (
            b.int("exercice")?,
            b.text("niveau")?,
            b.text("siren")?,
            b.text("code")?,
            b.text("nom")?,
        );
        let pop = b.int("population")?;
        let values: Vec<Vec<Option<i64>>> = INDICATORS
            .iter()
            .map(|ind| b.cents(ind.key))
            .collect::<Result<_, _>>()?;
        let taux = b.float("taux_epargne_brute_pct")?;
        let capa = b.float("capacite_desendettement_annees")?;
        for r in 0..b.rows() {
            let Some(y) = year_of(
                c,
                niveau.get(r),
                code.get(r),
                siren.get(r),
                nom.get(r),
                ex[r],
            ) else {
                continue;
            };
            y.population = pop[r];
            for (k, v) in values.iter().enumerate() {
                y.principal[k] = v[r];
            }
            y.taux_epargne_brute_pct = taux[r];
            y.capacite_desendettement_annees = capa[r];
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// OFGL's published amounts of the same agrégats: budget principal (compared with ours) and
/// consolidé (shown next to it).
async fn load_ofgl(
    root: &ReleaseRoot,
    catalog: &Catalog,
    c: &mut Collectivites,
) -> Result<(), LoadError> {
    let by_agregat: HashMap<&str, usize> = INDICATORS
        .iter()
        .enumerate()
        .map(|(i, ind)| (ind.agregat, i))
        .collect();
    let agregats = dataset(catalog, "finances.agregats")?;
    let columns = [
        "exercice", "niveau", "siren", "code", "nom", "budget", "agregat", "montant", "source",
    ];
    root.read_each(&catalog.release, agregats, &columns, |part| {
        let b = Batch {
            dataset: "finances.agregats",
            part: &part,
        };
        let source = b.text("source")?;
        let (ex, niveau, siren, code, nom) = (
            b.int("exercice")?,
            b.text("niveau")?,
            b.text("siren")?,
            b.text("code")?,
            b.text("nom")?,
        );
        let (budget, agregat, montant) =
            (b.text("budget")?, b.text("agregat")?, b.cents("montant")?);
        for r in 0..b.rows() {
            if source.get(r) != Some("ofgl") {
                continue;
            }
            let Some(&k) = agregat.get(r).and_then(|a| by_agregat.get(a)) else {
                continue;
            };
            let Some(y) = year_of(
                c,
                niveau.get(r),
                code.get(r),
                siren.get(r),
                nom.get(r),
                ex[r],
            ) else {
                continue;
            };
            match budget.get(r) {
                Some("principal") => y.ofgl_principal[k] = montant[r],
                Some("consolidé") => y.ofgl_consolide[k] = montant[r],
                _ => {}
            }
        }
        Ok(())
    })
    .await?;
    Ok(())
}
