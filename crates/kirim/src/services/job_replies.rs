//! Reading a worker's reply: `DONE`, `START`, `ARRIVED`, `ISSUE <text>`, `DELAY <minutes>`,
//! the way people actually type them on a phone — any case, punctuation and emoji around
//! the word (`done!`, `Done ✅`), a unit after the number (`Delay 30 mins`, `delay 1h`), a
//! job reference before or after the keyword (`J12 done`, `DONE J12`, `done #J12`).
//!
//! The keyword must open the message (after a job reference, if any): "not done yet" or
//! "is the issue fixed?" are not commands. A few Malay words field workers use in Malaysia
//! are accepted too (`siap`, `selesai`, `mula`, `sampai`, `masalah`, `lewat`).

use kirim_core::job::Command;

/// What a reply says: maybe a command, maybe the job it names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub command: Option<Command>,
    /// The job number the worker typed (`J12` → 12).
    pub job: Option<i64>,
}

impl Reply {
    pub fn is_empty(&self) -> bool {
        self.command.is_none() && self.job.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Start,
    Arrived,
    Done,
    Issue,
    Delay,
}

fn keyword(word: &str) -> Option<Keyword> {
    Some(match word {
        "done" | "finished" | "finish" | "completed" | "complete" | "siap" | "selesai" => Keyword::Done,
        "start" | "started" | "starting" | "mula" => Keyword::Start,
        "arrived" | "arrive" | "arriving" | "sampai" => Keyword::Arrived,
        "issue" | "problem" | "masalah" => Keyword::Issue,
        "delay" | "delayed" | "late" | "lewat" => Keyword::Delay,
        _ => return None,
    })
}

/// A word without the punctuation and symbols around it, lower-cased.
fn clean(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()
}

/// `J12`, `#J12`, `j12`, `JOB12`: the job's number.
fn job_ref(word: &str) -> Option<i64> {
    let w = clean(word);
    let digits = w.strip_prefix("job").or_else(|| w.strip_prefix('j'))?;
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

/// Minutes per unit word (`min`, `mins`, `minutes`, `h`, `hrs`, `jam`, `minit`).
fn unit(word: &str) -> Option<u32> {
    match word {
        "m" | "min" | "mins" | "minute" | "minutes" | "minit" | "mnt" => Some(1),
        "h" | "hr" | "hrs" | "hour" | "hours" | "jam" => Some(60),
        _ => None,
    }
}

/// A duration starting at `words[0]`: `30`, `30min`, `30 mins`, `1h`, `1.5 hours`, `2 jam`.
fn minutes(words: &[String]) -> Option<u32> {
    let first = words.first()?;
    let split = first.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')).unwrap_or(first.len());
    let (number, suffix) = first.split_at(split);
    let value: f64 = number.replace(',', ".").parse().ok()?;
    let per = if suffix.is_empty() { words.get(1).and_then(|w| unit(w)).unwrap_or(1) } else { unit(suffix)? };
    let total = (value * f64::from(per)).round();
    (total.is_finite() && total >= 0.0 && total <= f64::from(u32::MAX)).then_some(total as u32)
}

/// Reads a reply. The text after an ISSUE keyword is kept as the worker wrote it.
pub fn parse(text: &str) -> Reply {
    // Words with their byte offsets in `text`, so the issue text keeps its original form.
    let mut words: Vec<(usize, &str)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, &text[s..]));
    }
    // Glued symbols ("✅done", "done!!") are cleaned; a word of symbols only is skipped.
    let cleaned: Vec<String> = words.iter().map(|(_, w)| clean(w)).collect();
    let mut reply = Reply::default();
    let mut i = 0;
    while i < words.len() && cleaned[i].is_empty() {
        i += 1;
    }
    if let Some(n) = words.get(i).and_then(|(_, w)| job_ref(w)) {
        reply.job = Some(n);
        i += 1;
    } else if cleaned.get(i).map(String::as_str) == Some("job")
        && let Some(n) = cleaned.get(i + 1).and_then(|w| w.parse::<i64>().ok())
    {
        reply.job = Some(n);
        i += 2;
    }
    while i < words.len() && cleaned[i].is_empty() {
        i += 1;
    }
    let Some(word) = cleaned.get(i) else { return reply };
    // "delay30" / "DELAY30min": the keyword glued to its number.
    let (kw, glued) = match keyword(word) {
        Some(k) => (k, None),
        None => {
            let split = word.find(|c: char| c.is_ascii_digit()).unwrap_or(word.len());
            match keyword(&word[..split]) {
                Some(Keyword::Delay) if split < word.len() => (Keyword::Delay, Some(word[split..].to_owned())),
                _ => return reply,
            }
        }
    };
    i += 1;
    // A job reference straight after the keyword: "DONE J12", "delay J12 30".
    if reply.job.is_none()
        && let Some(n) = words.get(i).and_then(|(_, w)| job_ref(w))
    {
        reply.job = Some(n);
        i += 1;
    }
    reply.command = Some(match kw {
        Keyword::Start => Command::Start,
        Keyword::Arrived => Command::Arrived,
        Keyword::Done => Command::Done,
        Keyword::Issue => {
            let rest = words.get(i).map_or("", |(offset, _)| &text[*offset..]);
            Command::Issue(rest.trim().trim_start_matches([':', '-', ',', '.', '–']).trim().to_owned())
        }
        Keyword::Delay => {
            let mut rest: Vec<String> = glued.into_iter().collect();
            rest.extend(cleaned[i.min(cleaned.len())..].iter().filter(|w| !w.is_empty() && *w != "by" && *w != "for").cloned());
            // "delay 30 J12": a reference after the number.
            if reply.job.is_none()
                && let Some(n) = rest.iter().find_map(|w| job_ref(w))
            {
                reply.job = Some(n);
            }
            rest.retain(|w| job_ref(w).is_none());
            Command::Delay(minutes(&rest))
        }
    });
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str) -> Option<Command> {
        parse(text).command
    }

    #[test]
    fn every_keyword_in_any_case_with_punctuation() {
        for t in ["DONE", "done", "Done!", "done.", "  done  ", "Done ✅", "✅ done", "*DONE*", "done, thanks boss", "Siap"] {
            assert_eq!(command(t), Some(Command::Done), "{t:?}");
        }
        for t in ["START", "start", "Started!", "starting now", "Mula"] {
            assert_eq!(command(t), Some(Command::Start), "{t:?}");
        }
        for t in ["ARRIVED", "arrived.", "Arrived at site", "sampai"] {
            assert_eq!(command(t), Some(Command::Arrived), "{t:?}");
        }
    }

    #[test]
    fn issue_keeps_the_workers_words() {
        assert_eq!(command("ISSUE no water at site"), Some(Command::Issue("no water at site".into())));
        assert_eq!(command("issue: Client not home!"), Some(Command::Issue("Client not home!".into())));
        assert_eq!(command("Problem - door locked"), Some(Command::Issue("door locked".into())));
        assert_eq!(command("ISSUE"), Some(Command::Issue(String::new())));
        assert_eq!(parse("ISSUE J7 no parking"), Reply { command: Some(Command::Issue("no parking".into())), job: Some(7) });
    }

    #[test]
    fn delay_reads_the_minutes_in_many_forms() {
        for (t, m) in [
            ("DELAY 30", 30),
            ("Delay 30 mins", 30),
            ("delay 45 minutes", 45),
            ("delay 30min", 30),
            ("DELAY30", 30),
            ("delay 1h", 60),
            ("delay 1.5 hours", 90),
            ("delay 2 jam", 120),
            ("late 15", 15),
            ("delay by 20 mins, traffic", 20),
        ] {
            assert_eq!(command(t), Some(Command::Delay(Some(m))), "{t:?}");
        }
        assert_eq!(command("delay"), Some(Command::Delay(None)));
        assert_eq!(command("Delay!"), Some(Command::Delay(None)));
        assert_eq!(command("delay a bit"), Some(Command::Delay(None)));
    }

    #[test]
    fn job_references_before_or_after_the_keyword() {
        assert_eq!(parse("DONE J12"), Reply { command: Some(Command::Done), job: Some(12) });
        assert_eq!(parse("j12 done"), Reply { command: Some(Command::Done), job: Some(12) });
        assert_eq!(parse("#J3 start"), Reply { command: Some(Command::Start), job: Some(3) });
        assert_eq!(parse("job 4 arrived"), Reply { command: Some(Command::Arrived), job: Some(4) });
        assert_eq!(parse("delay J5 30"), Reply { command: Some(Command::Delay(Some(30))), job: Some(5) });
        assert_eq!(parse("delay 30 J5"), Reply { command: Some(Command::Delay(Some(30))), job: Some(5) });
        assert_eq!(parse("J9"), Reply { command: None, job: Some(9) });
    }

    #[test]
    fn other_texts_are_no_commands() {
        for t in ["not done yet", "is the issue fixed?", "hello", "", "   ", "👍", "doneness", "J", "jx12", "I will be late"] {
            assert_eq!(command(t), None, "{t:?}");
        }
        assert!(parse("thanks").is_empty());
    }
}
