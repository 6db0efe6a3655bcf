//! `{var}` templates in source paths, expanded over the cartesian product of `source.vars`.

use indexmap::IndexMap;

/// The variable names a template uses, in order of appearance.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                if !name.is_empty() && !out.iter().any(|n| n == name) {
                    out.push(name.to_string());
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

pub fn render(template: &str, binding: &IndexMap<String, String>) -> String {
    let mut s = template.to_string();
    for (k, v) in binding {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// Every combination of the variables' values, in declaration order (first variable slowest).
pub fn bindings(vars: &IndexMap<String, Vec<String>>) -> Vec<IndexMap<String, String>> {
    let mut out = vec![IndexMap::new()];
    for (name, values) in vars {
        let mut next = Vec::with_capacity(out.len() * values.len());
        for b in &out {
            for v in values {
                let mut b2 = b.clone();
                b2.insert(name.clone(), v.clone());
                next.push(b2);
            }
        }
        out = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_cartesian_product() {
        let mut vars = IndexMap::new();
        vars.insert(
            "exercice".to_string(),
            vec!["2023".to_string(), "2024".to_string()],
        );
        vars.insert("niveau".to_string(), vec!["com".to_string()]);
        let t = "data/{niveau}/bal_{exercice}.csv";
        assert_eq!(placeholders(t), vec!["niveau", "exercice"]);
        let paths: Vec<_> = bindings(&vars).iter().map(|b| render(t, b)).collect();
        assert_eq!(
            paths,
            vec!["data/com/bal_2023.csv", "data/com/bal_2024.csv"]
        );
    }

    #[test]
    fn no_vars_is_one_binding() {
        assert_eq!(bindings(&IndexMap::new()).len(), 1);
    }
}
