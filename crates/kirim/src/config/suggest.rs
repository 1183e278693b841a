//! "Did you mean …?" for misspelt keys and environment variables.

/// The candidate the user most likely meant by `input`, if one is close enough. Matching
/// ignores case. Tried in order: the same name in another case; a candidate that only adds a
/// suffix (`KIRIM_SENDING_PACING` → `KIRIM_SENDING_PACING_MS`); a candidate ending in the same
/// key (`pacing_ms` → `sending.pacing_ms`); the nearest by edit distance.
pub(super) fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let wanted = input.to_ascii_lowercase();
    let lower: Vec<(String, &'a str)> = candidates.iter().map(|c| (c.to_ascii_lowercase(), *c)).collect();
    let shortest = |matches: Vec<&'a str>| matches.into_iter().min_by_key(|c| c.len());

    if let Some(&(_, c)) = lower.iter().find(|(l, _)| *l == wanted) {
        return Some(c);
    }
    let extended: Vec<&'a str> = lower
        .iter()
        .filter(|(l, _)| l.strip_prefix(wanted.as_str()).is_some_and(|rest| rest.starts_with(['_', '.'])))
        .map(|&(_, c)| c)
        .collect();
    if let Some(c) = shortest(extended) {
        return Some(c);
    }
    let core = core_of(&wanted);
    if core.len() >= 4 {
        let same_key: Vec<&'a str> =
            lower.iter().filter(|(l, _)| l.strip_suffix(core).is_some_and(|rest| rest.ends_with(['_', '.']))).map(|&(_, c)| c).collect();
        if let Some(c) = shortest(same_key) {
            return Some(c);
        }
    }
    let limit = match core.len() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    lower.iter().map(|(l, c)| (distance(&wanted, l), *c)).filter(|(d, _)| *d <= limit).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

/// The part of a name that says which setting it is: without `kirim_` and any section.
fn core_of(name: &str) -> &str {
    let name = name.strip_prefix("kirim_").unwrap_or(name);
    name.rsplit('.').next().unwrap_or(name)
}

/// Levenshtein distance over bytes (names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["listen", "data_dir", "sending.pacing_ms", "sending.pacing_jitter_ms", "log.level"];
    const VARS: &[&str] = &["KIRIM_LISTEN", "KIRIM_DATA_DIR", "KIRIM_SENDING_PACING_MS", "KIRIM_LOG_LEVEL"];

    #[test]
    fn suggests_the_intended_name() {
        assert_eq!(closest("KIRIM_LISTN", VARS), Some("KIRIM_LISTEN"));
        assert_eq!(closest("kirim_listen", VARS), Some("KIRIM_LISTEN"));
        assert_eq!(closest("KIRIM_SENDING_PACING", VARS), Some("KIRIM_SENDING_PACING_MS"));
        assert_eq!(closest("KIRIM_PACING_MS", VARS), Some("KIRIM_SENDING_PACING_MS"));
        assert_eq!(closest("KIRIM_DATADIR", VARS), Some("KIRIM_DATA_DIR"));
        assert_eq!(closest("pacing_ms", KEYS), Some("sending.pacing_ms"));
        assert_eq!(closest("log.levle", KEYS), Some("log.level"));
        assert_eq!(closest("sending.pacing", KEYS), Some("sending.pacing_ms"));
    }

    #[test]
    fn stays_quiet_when_nothing_is_close() {
        assert_eq!(closest("KIRIM_CRASH_ROUNDS", VARS), None);
        assert_eq!(closest("colour", KEYS), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
