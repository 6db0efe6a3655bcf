//! How the command line says an error: the error and its causes on one line, as anyhow's
//! `{:#}` does, but without a cause the line already holds. DataFusion's planning errors
//! display their source and are wrapped again (a diagnostic around the error, our SQL error
//! around that), which `{:#}` printed as "X: X: X".

/// `e` and its causes, each said once.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The error as the user reads it: [`one_line`], and a hint when the error says what to do
/// better than its own words (an object store that gave no answer).
pub fn for_user(e: &anyhow::Error) -> String {
    let line = one_line(e);
    if oc_lake::store::no_answer(e.as_ref()) {
        format!("{line}\n  hint: {}", oc_lake::store::no_answer_hint())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    /// An error that displays its source, like DataFusion's diagnostics.
    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_said_is_not_repeated_and_new_ones_are_kept() {
        let io = || std::io::Error::other("table 'ref.x' not found");
        let e = anyhow::Error::new(Repeats(io()));
        assert_eq!(one_line(&e), "table 'ref.x' not found");
        let e = anyhow::Error::new(io()).context("cannot read the query");
        assert_eq!(
            one_line(&e),
            "cannot read the query: table 'ref.x' not found"
        );
    }
}
