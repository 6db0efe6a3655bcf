//! Strates: the population bands a collectivité is compared within, and the statistics of each
//! band per exercice and indicator. Communes use the DGFiP bands of the comptes individuels
//! (11 bands), groupements and départements the DGCL's bands, régions are compared with all
//! régions. The mean is the strate's total over its total population (what the DGFiP calls
//! "moyenne de la strate"), the median and the percentile are over the members' euros per
//! inhabitant.

use std::collections::HashMap;

use crate::model::{Collectivites, Entity, Level, N, div_round};

/// (lower bound included, label). The upper bound is the next band's lower bound.
const COMMUNES: [(i64, &str); 11] = [
    (0, "moins de 100 habitants"),
    (100, "de 100 à 199 habitants"),
    (200, "de 200 à 499 habitants"),
    (500, "de 500 à 1 999 habitants"),
    (2_000, "de 2 000 à 3 499 habitants"),
    (3_500, "de 3 500 à 4 999 habitants"),
    (5_000, "de 5 000 à 9 999 habitants"),
    (10_000, "de 10 000 à 19 999 habitants"),
    (20_000, "de 20 000 à 49 999 habitants"),
    (50_000, "de 50 000 à 99 999 habitants"),
    (100_000, "100 000 habitants et plus"),
];
const GROUPEMENTS: [(i64, &str); 5] = [
    (0, "moins de 15 000 habitants"),
    (15_000, "de 15 000 à 49 999 habitants"),
    (50_000, "de 50 000 à 99 999 habitants"),
    (100_000, "de 100 000 à 299 999 habitants"),
    (300_000, "300 000 habitants et plus"),
];
const DEPARTEMENTS: [(i64, &str); 4] = [
    (0, "moins de 250 000 habitants"),
    (250_000, "de 250 000 à 499 999 habitants"),
    (500_000, "de 500 000 à 999 999 habitants"),
    (1_000_000, "1 000 000 habitants et plus"),
];
const REGIONS: [(i64, &str); 1] = [(0, "toutes les régions")];

pub fn bands(level: Level) -> &'static [(i64, &'static str)] {
    match level {
        Level::Commune => &COMMUNES,
        Level::Groupement => &GROUPEMENTS,
        Level::Departement => &DEPARTEMENTS,
        Level::Region => &REGIONS,
    }
}

/// The band of a population (1-based, as in addresses), None without population.
pub fn band_of(level: Level, population: Option<i64>) -> Option<usize> {
    let p = population?;
    let b = bands(level);
    Some(b.iter().rposition(|(lo, _)| p >= *lo).unwrap_or(0) + 1)
}

pub fn band_label(level: Level, band: usize) -> Option<&'static str> {
    bands(level).get(band.checked_sub(1)?).map(|(_, l)| *l)
}

/// Statistics of one strate, one exercice, one indicator.
#[derive(Debug, Clone)]
pub struct Stat {
    pub count: usize,
    /// Σ amounts / Σ population, cents per inhabitant.
    pub mean: Option<i64>,
    /// Median of the members' cents per inhabitant.
    pub median: Option<i64>,
    /// The members' cents per inhabitant, sorted (for percentiles).
    sorted: Vec<i64>,
}

impl Stat {
    /// Share of members (0–100) with a value lower than or equal to `value`.
    pub fn percentile(&self, value: i64) -> Option<u32> {
        if self.sorted.is_empty() {
            return None;
        }
        let le = self.sorted.partition_point(|v| *v <= value);
        Some(((le * 100) as f64 / self.sorted.len() as f64).round() as u32)
    }
}

type Key = (Level, i32, usize);

#[derive(Default)]
pub struct Strates {
    stats: HashMap<Key, Vec<Stat>>,
    members: HashMap<Key, Vec<usize>>,
}

impl Strates {
    pub fn build(c: &Collectivites) -> Strates {
        let mut members: HashMap<Key, Vec<usize>> = HashMap::new();
        for (i, e) in c.entities.iter().enumerate() {
            for y in &e.years {
                if let Some(band) = band_of(e.level, y.population) {
                    members
                        .entry((e.level, y.exercice, band))
                        .or_default()
                        .push(i);
                }
            }
        }
        let mut stats = HashMap::new();
        for (key, ids) in &members {
            let per: Vec<Stat> = (0..N).map(|k| stat(c, &key.1, ids, k)).collect();
            stats.insert(*key, per);
        }
        Strates { stats, members }
    }

    pub fn stat(
        &self,
        level: Level,
        exercice: i32,
        band: usize,
        indicator: usize,
    ) -> Option<&Stat> {
        self.stats.get(&(level, exercice, band))?.get(indicator)
    }

    pub fn members(&self, level: Level, exercice: i32, band: usize) -> &[usize] {
        self.members
            .get(&(level, exercice, band))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The strate of `e` for `exercice`.
    pub fn band(e: &Entity, exercice: i32) -> Option<usize> {
        band_of(e.level, e.year(exercice)?.population)
    }
}

fn stat(c: &Collectivites, exercice: &i32, ids: &[usize], k: usize) -> Stat {
    let (mut total, mut pop) = (0i128, 0i128);
    let mut sorted = Vec::new();
    for &i in ids {
        let Some(y) = c.entities[i].year(*exercice) else {
            continue;
        };
        if let (Some(v), Some(p)) = (y.principal[k], y.population) {
            total += v as i128;
            pop += p as i128;
        }
        if let Some(ph) = y.per_inhabitant(k) {
            sorted.push(ph);
        }
    }
    sorted.sort_unstable();
    let median = match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        // Mean of the two middle values, rounded like every cent here.
        n => div_round(sorted[n / 2 - 1] as i128 + sorted[n / 2] as i128, 2),
    };
    let mean = div_round(total, pop);
    Stat {
        count: sorted.len(),
        mean,
        median,
        sorted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_dgfip_bounds() {
        assert_eq!(band_of(Level::Commune, Some(99)), Some(1));
        assert_eq!(band_of(Level::Commune, Some(100)), Some(2));
        assert_eq!(band_of(Level::Commune, Some(76_320)), Some(10));
        assert_eq!(band_of(Level::Commune, Some(2_133_111)), Some(11));
        assert_eq!(band_of(Level::Departement, Some(250_000)), Some(2));
        assert_eq!(band_of(Level::Region, Some(5)), Some(1));
        assert_eq!(band_of(Level::Commune, None), None);
        assert_eq!(band_label(Level::Commune, 0), None);
        assert_eq!(band_label(Level::Commune, 12), None);
    }
}
