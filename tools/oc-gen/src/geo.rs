//! Geography used by the GFP / département / région generators and by the OFGL export:
//! every `commune-actuelle` of the COG CSV, the EPCI à fiscalité propre, département and
//! région JSON files of `data/samples/geo/`, and the DGCL SIREN lists of départements and
//! régions (`collectivites-siren.csv`). The JSON files are read with serde into the structs
//! below (unknown keys ignored).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug)]
pub struct GeoCommune {
    pub code: String,
    pub nom: String,
    pub departement: String,
    pub region: String,
    pub siren: String,
    pub population: u64,
}

/// One object of `epci_<m>.json.gz`.
#[derive(Clone, Debug, Deserialize)]
pub struct Epci {
    #[serde(rename = "code")]
    pub siren: String,
    pub nom: String,
    /// `CC`, `CA`, `CU`, `METRO`, `MET69` (as in the COG file).
    #[serde(rename = "type")]
    pub nature: String,
    /// `FPU` / `FA` (empty when absent).
    #[serde(rename = "modeFinancement", default)]
    pub financement: String,
    /// `populationTotale` (0 when absent).
    #[serde(rename = "populationTotale", default)]
    pub population: u64,
    /// Member commune codes (`code` of each `membres` object), in file order.
    #[serde(deserialize_with = "member_codes")]
    pub membres: Vec<String>,
}

fn member_codes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Membre {
        code: String,
    }
    let membres = Vec::<Membre>::deserialize(d)?;
    Ok(membres.into_iter().map(|m| m.code).collect())
}

/// One object of `departements_<m>.json.gz`.
#[derive(Clone, Debug, Deserialize)]
pub struct Departement {
    pub code: String,
    pub nom: String,
    pub region: String,
}

/// One object of `regions_<m>.json.gz`.
#[derive(Clone, Debug, Deserialize)]
pub struct Region {
    pub code: String,
    pub nom: String,
    /// Commune code of the chef-lieu (empty when absent).
    #[serde(rename = "chefLieu", default)]
    pub chef_lieu: String,
}

/// One row of `collectivites-siren.csv` (`CATEG,Siren,Insee,Nom`).
#[derive(Clone, Debug)]
pub struct SirenRow {
    pub categ: String,
    pub siren: String,
    pub insee: String,
}

/// All geography, keyed by codes (BTreeMaps: deterministic iteration).
#[derive(Debug, Default)]
pub struct Geo {
    /// `commune-actuelle` rows, in file order.
    pub communes: Vec<GeoCommune>,
    /// commune code → index in `communes`.
    pub by_code: BTreeMap<String, usize>,
    pub epci: Vec<Epci>,
    pub departements: BTreeMap<String, Departement>,
    pub regions: BTreeMap<String, Region>,
    pub dep_sirens: Vec<SirenRow>,
    pub reg_sirens: Vec<SirenRow>,
}

/// Paths of the geography files, derived from the directory and the millésime.
pub struct GeoPaths {
    pub communes: PathBuf,
    pub epci: PathBuf,
    pub departements: PathBuf,
    pub regions: PathBuf,
    /// SIREN of départements (`DEPT`, `PARIS`, `ML`) and régions (`REG`, `CTU`).
    pub sirens: PathBuf,
}

impl GeoPaths {
    pub fn in_dir(dir: &Path, millesime: &str) -> Self {
        GeoPaths {
            communes: dir.join(format!("communes_{millesime}.csv.gz")),
            epci: dir.join(format!("epci_{millesime}.json.gz")),
            departements: dir.join(format!("departements_{millesime}.json.gz")),
            regions: dir.join(format!("regions_{millesime}.json.gz")),
            sirens: dir.join("collectivites-siren.csv"),
        }
    }

    /// Sibling files of a `communes_<millesime>.csv[.gz]` path.
    pub fn siblings_of(communes: &Path) -> Self {
        let name = communes
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let millesime = name
            .strip_prefix("communes_")
            .and_then(|r| r.split('.').next())
            .filter(|m| !m.is_empty())
            .unwrap_or("2026");
        let dir = communes.parent().unwrap_or(Path::new("."));
        let mut p = GeoPaths::in_dir(dir, millesime);
        p.communes = communes.to_path_buf();
        p
    }
}

pub fn open_maybe_gz(path: &Path) -> Result<Box<dyn Read>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

fn read_text(path: &Path) -> Result<String, String> {
    let mut s = String::new();
    open_maybe_gz(path)?
        .read_to_string(&mut s)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(s)
}

/// A JSON array of `T` (the whole file is decompressed first: faster than a streamed parse).
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, String> {
    serde_json::from_str(&read_text(path)?).map_err(|e| format!("{}: JSON: {e}", path.display()))
}

pub fn read_communes(path: &Path) -> Result<Vec<GeoCommune>, String> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(open_maybe_gz(path)?);
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no column {name:?}", path.display()))
    };
    let (i_code, i_nom, i_type, i_dep, i_reg, i_siren, i_pop) = (
        col("code")?,
        col("nom")?,
        col("type")?,
        col("departement")?,
        col("region")?,
        col("siren")?,
        col("population")?,
    );
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
        if &rec[i_type] != "commune-actuelle" {
            continue;
        }
        let pop = &rec[i_pop];
        out.push(GeoCommune {
            code: rec[i_code].to_string(),
            nom: rec[i_nom].to_string(),
            departement: rec[i_dep].to_string(),
            region: rec[i_reg].to_string(),
            siren: rec[i_siren].to_string(),
            population: if pop.is_empty() {
                0
            } else {
                pop.parse()
                    .map_err(|_| format!("commune {}: bad population {pop:?}", &rec[i_code]))?
            },
        });
    }
    Ok(out)
}

fn read_sirens(path: &Path) -> Result<Vec<SirenRow>, String> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(open_maybe_gz(path)?);
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no column {name:?}", path.display()))
    };
    let (i_categ, i_siren, i_insee) = (col("CATEG")?, col("Siren")?, col("Insee")?);
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(SirenRow {
            categ: rec[i_categ].to_string(),
            siren: rec[i_siren].to_string(),
            insee: rec[i_insee].to_string(),
        });
    }
    Ok(out)
}

impl Geo {
    pub fn load(p: &GeoPaths) -> Result<Geo, String> {
        let communes = read_communes(&p.communes)?;
        let mut epci: Vec<Epci> = read_json(&p.epci)?;
        epci.sort_by(|a, b| a.siren.cmp(&b.siren));
        let departements = read_json::<Departement>(&p.departements)?
            .into_iter()
            .map(|d| (d.code.clone(), d))
            .collect();
        let regions = read_json::<Region>(&p.regions)?
            .into_iter()
            .map(|r| (r.code.clone(), r))
            .collect();
        let by_code = communes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.code.clone(), i))
            .collect();
        let sirens = read_sirens(&p.sirens)?;
        Ok(Geo {
            communes,
            by_code,
            epci,
            departements,
            regions,
            dep_sirens: sirens
                .iter()
                .filter(|s| !matches!(s.categ.as_str(), "REG" | "CTU"))
                .cloned()
                .collect(),
            reg_sirens: sirens
                .iter()
                .filter(|s| matches!(s.categ.as_str(), "REG" | "CTU"))
                .cloned()
                .collect(),
        })
    }

    pub fn commune(&self, code: &str) -> Option<&GeoCommune> {
        self.by_code.get(code).map(|&i| &self.communes[i])
    }

    /// Département of a commune code (from the communes file, else from the code itself).
    pub fn departement_of(&self, code: &str) -> String {
        if let Some(c) = self.commune(code) {
            return c.departement.clone();
        }
        if code.starts_with("97") || code.starts_with("98") {
            code.get(..3).unwrap_or(code).to_string()
        } else {
            code.get(..2).unwrap_or(code).to_string()
        }
    }

    /// Sum of the populations of the communes of a département.
    pub fn population_departement(&self, dep: &str) -> u64 {
        self.communes
            .iter()
            .filter(|c| c.departement == dep)
            .map(|c| c.population)
            .sum()
    }

    /// Sum of the populations of the communes of a région.
    pub fn population_region(&self, reg: &str) -> u64 {
        self.communes
            .iter()
            .filter(|c| c.region == reg)
            .map(|c| c.population)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_geo_json() {
        let e: Vec<Epci> = serde_json::from_str(
            r#" [{"code":"200000172","nom":"CC Faucigny - Glières \u00e9\ud83d\ude00","type":"CC",
                 "populationTotale":13736,"z":null,"membres":[{"code":"74042","nom":"x"}]}] "#,
        )
        .unwrap();
        assert_eq!(e[0].nom, "CC Faucigny - Glières é😀");
        assert_eq!(
            (e[0].siren.as_str(), e[0].nature.as_str()),
            ("200000172", "CC")
        );
        assert_eq!((e[0].financement.as_str(), e[0].population), ("", 13736));
        assert_eq!(e[0].membres, ["74042"]);
        let r: Vec<Region> = serde_json::from_str(r#"[{"code":"01","nom":"Guadeloupe"}]"#).unwrap();
        assert_eq!((r[0].code.as_str(), r[0].chef_lieu.as_str()), ("01", ""));
        assert!(serde_json::from_str::<Vec<Region>>(r#"[{"code":"01"}]"#).is_err());
        assert!(serde_json::from_str::<Vec<Departement>>("[1,]").is_err());
    }
}
