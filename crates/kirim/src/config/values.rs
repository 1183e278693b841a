//! Parsers for plain value kinds (text, numbers, booleans, fractions, choices, lists). Each
//! accepts the value typed in TOML or as text from the environment or a flag, and on failure
//! returns the end of a sentence: what is wrong and how to fix it.

use toml::Value;

use super::layers::{Raw, Setting};

pub(super) type Parsed<T> = Result<T, String>;

pub(super) fn text(s: &Setting) -> Parsed<String> {
    match &s.raw {
        Raw::Toml(Value::String(text)) | Raw::Text(text) => Ok(text.clone()),
        Raw::Path(path) => path.to_str().map(str::to_owned).ok_or_else(|| "is not valid UTF-8; use plain text".to_owned()),
        Raw::Toml(_) => Err(format!("is not text; write it in quotes, like the default {}", s.example())),
    }
}

pub(super) fn whole(s: &Setting, unit: &str, min: u64, max: u64) -> Parsed<u64> {
    let not_whole = || format!("is not a whole number; use a number of {unit}, for example {}", s.example());
    let n = match &s.raw {
        Raw::Toml(Value::Integer(n)) => i128::from(*n),
        Raw::Text(text) => text.trim().parse::<i128>().map_err(|_| not_whole())?,
        _ => return Err(not_whole()),
    };
    if n < 0 && min == 0 {
        return Err(format!("is negative; use 0 or more {unit}"));
    }
    match u64::try_from(n) {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ if max == u64::MAX => Err(format!("is too small; use at least {min}")),
        _ if min == 0 => Err(format!("is too large; use at most {max}")),
        _ => Err(format!("is out of range; use {min} to {max}")),
    }
}

pub(super) fn size(s: &Setting, unit: &str, min: u64) -> Parsed<usize> {
    let n = whole(s, unit, min, u64::try_from(usize::MAX).unwrap_or(u64::MAX))?;
    usize::try_from(n).map_err(|_| format!("is too large; use at most {}", usize::MAX))
}

pub(super) fn small(s: &Setting, unit: &str, min: u64, max: u64) -> Parsed<u32> {
    let n = whole(s, unit, min, max.min(u64::from(u32::MAX)))?;
    u32::try_from(n).map_err(|_| format!("is too large; use at most {}", u32::MAX))
}

pub(super) fn boolean(s: &Setting) -> Parsed<bool> {
    let flag = match &s.raw {
        Raw::Toml(Value::Boolean(flag)) => Some(*flag),
        Raw::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    };
    flag.ok_or_else(|| "is neither true nor false; use true or false".to_owned())
}

pub(super) fn fraction(s: &Setting) -> Parsed<f64> {
    let not_fraction = "is not a number from 0.0 to 1.0; use a fraction such as 0.1 (one send in ten fails)";
    let value = match &s.raw {
        Raw::Toml(Value::Float(f)) => *f,
        Raw::Toml(Value::Integer(n)) => *n as f64,
        Raw::Text(text) => text.trim().parse::<f64>().map_err(|_| not_fraction.to_owned())?,
        _ => return Err(not_fraction.to_owned()),
    };
    if (0.0..=1.0).contains(&value) { Ok(value) } else { Err(not_fraction.to_owned()) }
}

pub(super) fn choice<T: Copy>(s: &Setting, options: &[(&str, T)]) -> Parsed<T> {
    let given = text(s)?;
    let wanted = given.trim().to_ascii_lowercase();
    if let Some((_, value)) = options.iter().find(|(name, _)| *name == wanted) {
        return Ok(*value);
    }
    let names: Vec<String> = options.iter().map(|(name, _)| format!("\"{name}\"")).collect();
    Err(format!("is not one of the choices; use {}", names.join(" or ")))
}

pub(super) fn list(s: &Setting) -> Parsed<Vec<String>> {
    match &s.raw {
        Raw::Text(text) => Ok(text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect()),
        Raw::Toml(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("is not a list of strings; write it like the default {}", s.example())),
        _ => Err(format!("is not a list; write it like the default {}", s.example())),
    }
}
