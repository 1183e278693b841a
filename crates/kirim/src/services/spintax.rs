//! Spintax and contact placeholders: `{Hi|Hello} {name}` becomes "Hello Aisyah" for one
//! recipient and "Hi Ben" for the next. A brace group with `|` picks one of its options at
//! random (options may nest); a group without one names a field of the recipient's contact
//! and is replaced by its value. Anything else (an unknown `{word}`, a lone brace) stays as
//! written, so ordinary text with braces is never mangled.

use rand::Rng;

/// Deepest nesting of groups followed; deeper text stays as written.
const MAX_DEPTH: usize = 16;

enum Node {
    Text(String),
    /// `{a|b|c}`: one option is chosen; `{word}`: a placeholder.
    Group(Vec<Vec<Node>>),
}

/// The text and, for each position, whether it opens a brace that is closed later (braces
/// pair as brackets do). Known up front, the parser never backtracks: linear in the text.
struct Source {
    chars: Vec<char>,
    closed: Vec<bool>,
}

impl Source {
    fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut closed = vec![false; chars.len()];
        let mut open = Vec::new();
        for (i, c) in chars.iter().enumerate() {
            match c {
                '{' => open.push(i),
                '}' => {
                    if let Some(start) = open.pop()
                        && let Some(flag) = closed.get_mut(start)
                    {
                        *flag = true;
                    }
                }
                _ => {}
            }
        }
        Self { chars, closed }
    }
}

/// Parses until the end, or (inside a group) until `|` or `}`; returns the position reached.
fn parse(src: &Source, mut at: usize, depth: usize) -> (Vec<Node>, usize) {
    let chars = &src.chars;
    let mut out = Vec::new();
    let mut text = String::new();
    while let Some(&c) = chars.get(at) {
        match c {
            '|' | '}' if depth > 0 => break,
            '{' if depth < MAX_DEPTH && src.closed.get(at) == Some(&true) => match group(src, at + 1, depth + 1) {
                Some((options, next)) => {
                    if !text.is_empty() {
                        out.push(Node::Text(std::mem::take(&mut text)));
                    }
                    out.push(Node::Group(options));
                    at = next;
                }
                None => {
                    text.push('{');
                    at += 1;
                }
            },
            _ => {
                text.push(c);
                at += 1;
            }
        }
    }
    if !text.is_empty() {
        out.push(Node::Text(text));
    }
    (out, at)
}

/// The options of a group whose `{` was just read, and the position after its `}`; `None`
/// when it is never closed (the brace is then plain text).
fn group(src: &Source, mut at: usize, depth: usize) -> Option<(Vec<Vec<Node>>, usize)> {
    let mut options = Vec::new();
    loop {
        let (option, next) = parse(src, at, depth);
        options.push(option);
        match src.chars.get(next) {
            Some('|') => at = next + 1,
            Some('}') => return Some((options, next + 1)),
            _ => return None,
        }
    }
}

fn render(nodes: &[Node], lookup: &dyn Fn(&str) -> Option<String>, rng: &mut impl Rng, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Group(options) if options.len() > 1 => {
                let pick = rng.gen_range(0..options.len());
                if let Some(option) = options.get(pick) {
                    render(option, lookup, rng, out);
                }
            }
            Node::Group(options) => {
                let only = options.first().map(Vec::as_slice).unwrap_or_default();
                let value = match only {
                    [Node::Text(key)] => lookup(key.trim()),
                    _ => None,
                };
                match value {
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push('{');
                        render(only, lookup, rng, out);
                        out.push('}');
                    }
                }
            }
        }
    }
}

/// `template` with its choices made and its placeholders filled in by `lookup`.
pub fn expand(template: &str, lookup: &dyn Fn(&str) -> Option<String>, rng: &mut impl Rng) -> String {
    let (nodes, _) = parse(&Source::new(template), 0, 0);
    let mut out = String::with_capacity(template.len());
    render(&nodes, lookup, rng, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn fields(key: &str) -> Option<String> {
        match key {
            "name" => Some("Aisyah".into()),
            "city" => Some("Ipoh".into()),
            _ => None,
        }
    }

    fn all(template: &str) -> std::collections::BTreeSet<String> {
        let mut rng = StdRng::seed_from_u64(7);
        (0..200).map(|_| expand(template, &fields, &mut rng)).collect()
    }

    #[test]
    fn choices_are_made_among_the_options_only() {
        assert_eq!(all("{Hi|Hello|Hey} there"), ["Hello there", "Hey there", "Hi there"].map(String::from).into());
        assert_eq!(all("{a|{b|c}}!"), ["a!", "b!", "c!"].map(String::from).into(), "nested groups");
        assert_eq!(all("{|x}"), ["", "x"].map(String::from).into(), "an empty option is a choice");
    }

    #[test]
    fn placeholders_are_filled_in_and_unknown_ones_stay() {
        assert_eq!(all("{Hi|Hi} {name} from { city }"), ["Hi Aisyah from Ipoh".to_owned()].into());
        assert_eq!(all("{unknown} and {name"), ["{unknown} and {name".to_owned()].into(), "unknown key, unclosed brace");
        assert_eq!(all("{Dear {name}|Hello {name}}"), ["Dear Aisyah", "Hello Aisyah"].map(String::from).into());
        assert_eq!(all("a } b | c"), ["a } b | c".to_owned()].into(), "stray braces and bars outside groups are text");
        assert_eq!(all("{x {name}}"), ["{x Aisyah}".to_owned()].into(), "a group of text that is no key stays, filled in");
        assert_eq!(all("{{{{{a|b"), ["{{{{{a|b".to_owned()].into(), "braces never closed are text");
    }

    #[test]
    fn deep_or_long_templates_stay_cheap() {
        let template = "{".repeat(4096);
        assert_eq!(expand(&template, &fields, &mut StdRng::seed_from_u64(1)), template);
        let nested = format!("{}x{}", "{a|".repeat(40), "}".repeat(40));
        assert!(!expand(&nested, &fields, &mut StdRng::seed_from_u64(1)).is_empty());
    }
}
