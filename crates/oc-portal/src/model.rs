//! What the portal knows, without IO: collectivités of the four levels, their figures per
//! exercice (exact cents), and the indicators a fiche shows. Built once per release by
//! `load`, then only read.

use std::collections::HashMap;

/// The four levels, with their codes in the release (`niveau`) and in addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Commune,
    Groupement,
    Departement,
    Region,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::Commune,
        Level::Groupement,
        Level::Departement,
        Level::Region,
    ];

    /// `niveau` in `finances.fiche` and `finances.agregats`.
    pub fn niveau(self) -> &'static str {
        match self {
            Level::Commune => "COM",
            Level::Groupement => "GFP",
            Level::Departement => "DEP",
            Level::Region => "REG",
        }
    }

    pub fn from_niveau(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.niveau() == s)
    }

    /// The first segment of a fiche's address (`/commune/2A004`).
    pub fn slug(self) -> &'static str {
        match self {
            Level::Commune => "commune",
            Level::Groupement => "groupement",
            Level::Departement => "departement",
            Level::Region => "region",
        }
    }

    pub fn from_slug(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.slug() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Level::Commune => "Commune",
            Level::Groupement => "Groupement à fiscalité propre",
            Level::Departement => "Département",
            Level::Region => "Région",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Level::Commune => "Communes",
            Level::Groupement => "Groupements à fiscalité propre (EPCI)",
            Level::Departement => "Départements",
            Level::Region => "Régions",
        }
    }
}

/// A figure of `finances.fiche`: its column, its French label and the OFGL agrégat it is.
pub struct Indicator {
    pub key: &'static str,
    pub label: &'static str,
    pub agregat: &'static str,
}

const fn ind(key: &'static str, label: &'static str, agregat: &'static str) -> Indicator {
    Indicator {
        key,
        label,
        agregat,
    }
}

/// Amounts of a fiche, in the order shown. One list, used by loading, pages, tables and maps.
pub const INDICATORS: [Indicator; 13] = [
    ind(
        "recettes_fonctionnement",
        "Recettes de fonctionnement",
        "Recettes de fonctionnement",
    ),
    ind(
        "depenses_fonctionnement",
        "Dépenses de fonctionnement",
        "Dépenses de fonctionnement",
    ),
    ind("epargne_brute", "Épargne brute", "Epargne brute"),
    ind("epargne_nette", "Épargne nette", "Epargne nette"),
    ind(
        "frais_personnel",
        "Frais de personnel",
        "Frais de personnel",
    ),
    ind("impots_locaux", "Impôts locaux", "Impôts locaux"),
    ind(
        "recettes_investissement",
        "Recettes d'investissement",
        "Recettes d'investissement",
    ),
    ind(
        "depenses_investissement",
        "Dépenses d'investissement",
        "Dépenses d'investissement",
    ),
    ind(
        "depenses_equipement",
        "Dépenses d'équipement",
        "Dépenses d'équipement",
    ),
    ind(
        "emprunts",
        "Emprunts (hors gestion active de la dette)",
        "Emprunts hors GAD",
    ),
    ind(
        "remboursements_emprunts",
        "Remboursements d'emprunts",
        "Remboursements d'emprunts hors GAD",
    ),
    ind(
        "annuite_dette",
        "Annuité de la dette",
        "Annuité de la dette",
    ),
    ind("encours_dette", "Encours de dette", "Encours de dette"),
];

pub const N: usize = INDICATORS.len();

pub fn indicator(key: &str) -> Option<usize> {
    INDICATORS.iter().position(|i| i.key == key)
}

/// One exercice of a collectivité. Amounts are cents (`Decimal128(18, 2)` fits an i64).
#[derive(Debug, Clone)]
pub struct Year {
    pub exercice: i32,
    pub population: Option<i64>,
    /// Budget principal, computed from the DGFiP balances (`finances.fiche`).
    pub principal: [Option<i64>; N],
    /// The same agrégats as OFGL publishes them, budget principal (communes only).
    pub ofgl_principal: [Option<i64>; N],
    /// OFGL's budget consolidé (principal + annexes − flux between them).
    pub ofgl_consolide: [Option<i64>; N],
    pub taux_epargne_brute_pct: Option<f64>,
    pub capacite_desendettement_annees: Option<f64>,
}

impl Year {
    pub fn new(exercice: i32) -> Year {
        Year {
            exercice,
            population: None,
            principal: [None; N],
            ofgl_principal: [None; N],
            ofgl_consolide: [None; N],
            taux_epargne_brute_pct: None,
            capacite_desendettement_annees: None,
        }
    }

    /// Euros per inhabitant of indicator `i`, in cents, rounded half away from zero.
    pub fn per_inhabitant(&self, i: usize) -> Option<i64> {
        per_inhabitant(self.principal[i]?, self.population?)
    }
}

/// `cents / population`, rounded half away from zero to the cent; None without population.
pub fn per_inhabitant(cents: i64, population: i64) -> Option<i64> {
    div_round(cents as i128, population as i128)
}

/// `num / den` rounded half away from zero, the one rounding of every cent the portal
/// computes (per inhabitant, strate means and medians); None when `den` is not positive.
pub fn div_round(num: i128, den: i128) -> Option<i64> {
    if den <= 0 {
        return None;
    }
    let q = (2 * num.abs() + den) / (2 * den);
    i64::try_from(if num < 0 { -q } else { q }).ok()
}

#[derive(Debug, Clone)]
pub struct Entity {
    pub level: Level,
    /// INSEE code (commune, département, région) or SIREN (groupement): the address key.
    pub code: String,
    pub siren: Option<String>,
    pub nom: String,
    /// Population and where it comes from (`COG 2026`).
    pub population: Option<i64>,
    pub population_source: String,
    pub departement: Option<String>,
    pub region: Option<String>,
    /// For a commune, the SIREN of its EPCI; for a groupement, its nature (CC, CA, CU, ME).
    pub epci: Option<String>,
    pub nature: Option<String>,
    pub codes_postaux: Vec<String>,
    pub anciens_codes: Vec<String>,
    /// Member communes' codes (groupement), communes of a département, départements of a région.
    pub members: Vec<String>,
    /// Figures per exercice, ascending.
    pub years: Vec<Year>,
}

impl Entity {
    pub fn url(&self) -> String {
        format!("/{}/{}", self.level.slug(), self.code)
    }

    pub fn id(&self) -> String {
        format!("{}:{}", self.level.slug(), self.code)
    }

    pub fn latest(&self) -> Option<&Year> {
        self.years.last()
    }

    pub fn year(&self, exercice: i32) -> Option<&Year> {
        self.years.iter().find(|y| y.exercice == exercice)
    }
}

/// When a commune ceased to be one, as the COG vintages tell: after 1 January `dernier_cog`,
/// on 1 January `premier_cog_sans` at the latest (the exact day is not in the COG files).
#[derive(Debug, Clone)]
pub struct Merger {
    /// The same commune under a new code (a chef-lieu moved), not a merger.
    pub recoded: bool,
    pub nom: String,
    /// The commune that absorbed it then (it may have merged again since).
    pub commune: String,
    pub dernier_cog: i64,
    pub premier_cog_sans: i64,
}

/// Everything a page needs, indexed by (level, code).
#[derive(Default)]
pub struct Collectivites {
    pub entities: Vec<Entity>,
    pub index: HashMap<(Level, String), usize>,
    /// Old commune codes (merged since) → current commune.
    pub old_codes: HashMap<String, usize>,
    /// When old codes ceased to be communes (`ref.fusions_communes`, when published).
    pub mergers: HashMap<String, Merger>,
    /// The first COG vintage `mergers` covers: a code it lacks merged before.
    pub mergers_since: Option<i64>,
    /// SIREN → entity, for searching by SIREN.
    pub by_siren: HashMap<String, usize>,
    /// Postal code → communes.
    pub by_postcode: HashMap<String, Vec<usize>>,
    /// COG vintage of the geography.
    pub millesime: String,
    /// Per level, the exercices with figures, ascending (computed once by `index_exercices`).
    exercices: HashMap<Level, Vec<i32>>,
}

impl Collectivites {
    /// What the search and the fiche say of an old commune code `old` that leads to `into`.
    pub fn old_code_note(&self, old: &str, into: &Entity) -> String {
        let now = format!("{} (code {}, COG {})", into.nom, into.code, self.millesime);
        match (self.mergers.get(old), self.mergers_since) {
            (Some(m), _) if m.recoded => format!(
                "Le code {old} est un ancien code de {}, qui a changé de code au plus tard le 1er janvier {} (elle le portait encore au COG du 1er janvier {}) : aujourd'hui {now}.",
                m.nom, m.premier_cog_sans, m.dernier_cog
            ),
            (Some(m), _) if m.commune == into.code => format!(
                "Le code {old} est celui de {}, ancienne commune fusionnée au plus tard le 1er janvier {} dans {now} : elle figurait encore au COG du 1er janvier {}.",
                m.nom, m.premier_cog_sans, m.dernier_cog
            ),
            (Some(m), _) => format!(
                "Le code {old} est celui de {}, ancienne commune fusionnée au plus tard le 1er janvier {} : elle figurait encore au COG du 1er janvier {} ; elle fait aujourd'hui partie de {now}.",
                m.nom, m.premier_cog_sans, m.dernier_cog
            ),
            (None, Some(since)) => format!(
                "Le code {old} est celui d'une ancienne commune fusionnée au plus tard le 1er janvier {since} ; elle fait aujourd'hui partie de {now}."
            ),
            (None, None) => {
                format!("Le code {old} est celui d'une ancienne commune fusionnée dans {now}.")
            }
        }
    }

    pub fn get(&self, level: Level, code: &str) -> Option<&Entity> {
        self.index
            .get(&(level, code.to_string()))
            .map(|&i| &self.entities[i])
    }

    pub fn insert(&mut self, e: Entity) -> usize {
        let key = (e.level, e.code.clone());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.entities.push(e);
        let i = self.entities.len() - 1;
        self.index.insert(key, i);
        i
    }

    pub fn name_of(&self, level: Level, code: &str) -> String {
        self.get(level, code)
            .map(|e| e.nom.clone())
            .unwrap_or_else(|| code.to_string())
    }

    /// All exercices with figures at `level`, ascending.
    pub fn exercices(&self, level: Level) -> Vec<i32> {
        self.exercices.get(&level).cloned().unwrap_or_default()
    }

    /// Computes what [`Collectivites::exercices`] answers, once all figures are loaded.
    pub fn index_exercices(&mut self) {
        let mut by_level: HashMap<Level, std::collections::BTreeSet<i32>> = HashMap::new();
        for e in &self.entities {
            by_level
                .entry(e.level)
                .or_default()
                .extend(e.years.iter().map(|y| y.exercice));
        }
        self.exercices = by_level
            .into_iter()
            .map(|(l, s)| (l, s.into_iter().collect()))
            .collect();
    }
}

/// Special statuses a reader must know to read the figures right.
pub fn status_note(level: Level, code: &str) -> Option<&'static str> {
    match (level, code) {
        (Level::Commune, "75056") => Some(
            "Paris est depuis 2019 une collectivité à statut particulier, la « Ville de Paris », qui exerce à la fois les compétences d'une commune et d'un département.",
        ),
        (Level::Departement, "75") => Some(
            "Le département de Paris est exercé par la Ville de Paris (collectivité à statut particulier depuis 2019).",
        ),
        (Level::Groupement, "200046977") => Some(
            "La Métropole de Lyon est une collectivité territoriale à statut particulier (2015) qui exerce sur son territoire les compétences du département du Rhône.",
        ),
        (Level::Departement, "69") => Some(
            "Le département du Rhône n'exerce plus ses compétences sur le territoire de la Métropole de Lyon depuis 2015.",
        ),
        (Level::Region, "94") | (Level::Departement, "2A" | "2B") => Some(
            "La Collectivité de Corse (2018) exerce les compétences de la région et des deux départements de Corse-du-Sud et de Haute-Corse.",
        ),
        (Level::Region, "02") | (Level::Departement, "972") => Some(
            "La Collectivité territoriale de Martinique (2015) exerce les compétences de la région et du département.",
        ),
        (Level::Region, "03") | (Level::Departement, "973") => Some(
            "La Collectivité territoriale de Guyane (2015) exerce les compétences de la région et du département.",
        ),
        (Level::Region, "06") | (Level::Departement, "976") => {
            Some("Mayotte est un département qui exerce aussi les compétences d'une région.")
        }
        (Level::Departement, "67" | "68") => Some(
            "Le Bas-Rhin et le Haut-Rhin forment depuis 2021 la Collectivité européenne d'Alsace, qui exerce les compétences des deux départements.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_inhabitant_rounds_half_away_from_zero_exactly() {
        // 494.81 € for Ajaccio's 2023 épargne brute: 37 763 779,04 € / 76 320 hab.
        assert_eq!(per_inhabitant(3_776_377_904, 76_320), Some(49_481));
        assert_eq!(per_inhabitant(5, 2), Some(3));
        assert_eq!(per_inhabitant(-5, 2), Some(-3));
        assert_eq!(per_inhabitant(i64::MAX, 1), Some(i64::MAX));
        assert_eq!(per_inhabitant(100, 0), None);
    }
}
