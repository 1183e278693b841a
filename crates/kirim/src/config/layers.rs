//! Gathering the layers — defaults, file, environment, flags — into one value per key, each
//! remembered with where it came from so that an error can say so.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::{ConfigError, Overrides, suggest};

/// The documented defaults: the first layer, and what `kirim config example` prints.
pub(super) const DEFAULTS: &str = include_str!("../../config/defaults.toml");

const PREFIX: &str = "KIRIM_";
const FILE_SUFFIX: &str = "_FILE";

/// Keys whose values are never shown in messages and which also accept `KIRIM_…_FILE`.
pub(super) const SECRET_KEYS: &[&str] = &["admin_token", "database.url", "transcription.api_key"];

/// Whether an environment variable is in Kirim's namespace (any case, to catch typos).
pub(super) fn is_kirim_var(name: &str) -> bool {
    name.as_bytes().get(..PREFIX.len()).is_some_and(|head| head.eq_ignore_ascii_case(PREFIX.as_bytes()))
}

/// `sending.pacing_ms` → `KIRIM_SENDING_PACING_MS`.
pub(super) fn env_name(key: &str) -> String {
    format!("{PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Where a value came from.
#[derive(Debug, Clone)]
pub(super) enum Source {
    Default,
    File(PathBuf),
    Env(String),
    /// A secret read from the file named by a `KIRIM_…_FILE` variable.
    EnvFile {
        var: String,
        path: PathBuf,
    },
    Flag(&'static str),
}

/// A value before it is parsed: typed in TOML, plain text from the environment and flags.
#[derive(Debug, Clone)]
pub(super) enum Raw {
    Toml(Value),
    Text(String),
    Path(PathBuf),
}

/// One key's winning value.
#[derive(Debug, Clone)]
pub(super) struct Setting {
    pub key: String,
    pub raw: Raw,
    pub source: Source,
    /// The key's value in the defaults, used as the example in error messages.
    pub default: Value,
}

impl Setting {
    fn is_secret(&self) -> bool {
        SECRET_KEYS.contains(&self.key.as_str())
    }

    fn shown(&self) -> String {
        match &self.raw {
            Raw::Toml(value) => value.to_string(),
            Raw::Text(text) => format!("{text:?}"),
            Raw::Path(path) => format!("{:?}", path.display().to_string()),
        }
    }

    /// The value and where it came from, to begin a sentence: `KIRIM_LISTEN="8080x"`,
    /// `listen = "8080x" in kirim.toml`. Secrets are named, never shown.
    pub fn subject(&self) -> String {
        let (key, secret) = (&self.key, self.is_secret());
        match &self.source {
            Source::Default => format!("the built-in default {key} = {}", self.shown()),
            Source::File(file) if secret => format!("{key} in {}", file.display()),
            Source::File(file) => format!("{key} = {} in {}", self.shown(), file.display()),
            Source::Env(var) if secret => var.clone(),
            Source::Env(var) => format!("{var}={}", self.shown()),
            Source::EnvFile { var, path } => {
                format!("the secret in {} (from {var})", path.display())
            }
            Source::Flag(flag) => format!("{flag} {}", self.shown()),
        }
    }

    /// Where the value came from, for messages about two keys at once: `from KIRIM_LISTEN`.
    pub fn origin(&self) -> String {
        match &self.source {
            Source::Default => "the default".to_owned(),
            Source::File(file) => format!("from {}", file.display()),
            Source::Env(var) | Source::EnvFile { var, .. } => format!("from {var}"),
            Source::Flag(flag) => format!("from {flag}"),
        }
    }

    /// The default value written as TOML (`"127.0.0.1:8080"`, `1000`), as an example.
    pub fn example(&self) -> String {
        self.default.to_string()
    }
}

/// Every key with its winning value, and the warnings found while gathering them.
pub(super) struct Layers {
    pub settings: BTreeMap<String, Setting>,
    pub warnings: Vec<String>,
}

/// The embedded defaults as a table.
pub(super) fn defaults_table() -> Result<Table, ConfigError> {
    DEFAULTS.parse::<Table>().map_err(|e| {
        ConfigError::new(format!("Kirim's built-in defaults are not valid TOML ({}); this is a bug, please report it", e.message()))
    })
}

/// Every key path in `table` (`listen`, `sending.pacing_ms`) with its value, in order.
pub(super) fn flatten(table: &Table, prefix: &str, out: &mut Vec<(String, Value)>) {
    for (name, value) in table {
        let key = join(prefix, name);
        match value {
            Value::Table(inner) => flatten(inner, &key, out),
            _ => out.push((key, value.clone())),
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

impl Layers {
    pub fn gather(overrides: &Overrides, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut keys = Vec::new();
        flatten(&defaults_table()?, "", &mut keys);
        let settings = keys
            .into_iter()
            .map(|(key, value)| {
                let setting = Setting { key: key.clone(), raw: Raw::Toml(value.clone()), source: Source::Default, default: value };
                (key, setting)
            })
            .collect();
        let mut layers = Self { settings, warnings: Vec::new() };
        if let Some(file) = &overrides.config_file {
            layers.apply_file(file)?;
        }
        layers.apply_env(env)?;
        if let Some(listen) = &overrides.listen {
            layers.set("listen", Raw::Text(listen.clone()), Source::Flag("--listen"));
        }
        if let Some(dir) = &overrides.data_dir {
            layers.set("data_dir", Raw::Path(dir.clone()), Source::Flag("--data-dir"));
        }
        Ok(layers)
    }

    fn set(&mut self, key: &str, raw: Raw, source: Source) {
        if let Some(setting) = self.settings.get_mut(key) {
            setting.raw = raw;
            setting.source = source;
        }
    }

    fn sections(&self) -> BTreeSet<&str> {
        self.settings.keys().filter_map(|key| key.rsplit_once('.').map(|(section, _)| section)).collect()
    }

    fn apply_file(&mut self, file: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            ConfigError::new(format!("the configuration file {} could not be read ({e}); check the path given to --config", file.display()))
        })?;
        let table = text.parse::<Table>().map_err(|e| syntax_error(file, &text, &e))?;
        self.merge(file, &table, "")
    }

    fn merge(&mut self, file: &Path, table: &Table, prefix: &str) -> Result<(), ConfigError> {
        for (name, value) in table {
            let key = join(prefix, name);
            let leaf = self.settings.get(&key).map(|s| s.example());
            let section = leaf.is_none() && self.sections().contains(key.as_str());
            match (value, leaf) {
                (Value::Table(inner), None) if section => self.merge(file, inner, &key)?,
                (Value::Table(_), Some(example)) => {
                    return Err(ConfigError::new(format!(
                        "{key} in {} must be a single value, not a table; write {}",
                        file.display(),
                        assignment(&key, &example)
                    )));
                }
                (_, Some(_)) => self.set(&key, Raw::Toml(value.clone()), Source::File(file.to_owned())),
                (_, None) if section => {
                    return Err(ConfigError::new(format!(
                        "{key} in {} must be a section, not a single value; write [{key}] followed by its keys (`kirim config example` shows them)",
                        file.display()
                    )));
                }
                (_, None) => return Err(self.unknown_key(file, &key)),
            }
        }
        Ok(())
    }

    fn unknown_key(&self, file: &Path, key: &str) -> ConfigError {
        let sections = self.sections();
        let candidates: Vec<&str> = self.settings.keys().map(String::as_str).chain(sections).collect();
        let hint = match suggest::closest(key, &candidates) {
            Some(known) => format!("did you mean {known}?"),
            None => "remove it (`kirim config example` lists every key)".to_owned(),
        };
        ConfigError::new(format!("{} has an unknown key {key}; {hint}", file.display()))
    }

    fn apply_env(&mut self, env: &[(String, String)]) -> Result<(), ConfigError> {
        // Sorted, and the last of duplicate names wins, as in a real environment.
        let vars: BTreeMap<&str, &str> = env.iter().filter(|(name, _)| is_kirim_var(name)).map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let direct: HashMap<String, String> = self.settings.keys().map(|key| (env_name(key), key.clone())).collect();
        let via_file: HashMap<String, String> =
            SECRET_KEYS.iter().map(|key| (format!("{}{FILE_SUFFIX}", env_name(key)), (*key).to_owned())).collect();
        for (&name, &value) in &vars {
            if let Some(key) = direct.get(name) {
                let file_var = format!("{name}{FILE_SUFFIX}");
                if via_file.contains_key(&file_var) && vars.contains_key(file_var.as_str()) {
                    return Err(ConfigError::new(format!(
                        "{name} and {file_var} are both set; keep only one of them ({file_var} names a file holding the secret)"
                    )));
                }
                self.set(key, Raw::Text(value.to_owned()), Source::Env(name.to_owned()));
            } else if let Some(key) = via_file.get(name) {
                let secret = read_secret_file(name, value)?;
                let source = Source::EnvFile { var: name.to_owned(), path: PathBuf::from(value) };
                self.set(key, Raw::Text(secret), source);
            } else {
                let mut known: Vec<&str> = direct.keys().map(String::as_str).collect();
                known.extend(via_file.keys().map(String::as_str));
                known.sort_unstable();
                self.warnings.push(unknown_var(name, &known, &via_file));
            }
        }
        Ok(())
    }
}

/// `key = example`, or `name = example under [section]` for a key in a section.
fn assignment(key: &str, example: &str) -> String {
    match key.rsplit_once('.') {
        Some((section, name)) => format!("{name} = {example} under [{section}]"),
        None => format!("{key} = {example}"),
    }
}

fn syntax_error(file: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let message: Vec<&str> = error.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let message = message.join(", ");
    let place = match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(" at line {line}, column {column}")
        }
        None => String::new(),
    };
    ConfigError::new(format!(
        "{} is not valid TOML ({message}{place}); fix the syntax there (`kirim config example` shows a valid file)",
        file.display()
    ))
}

/// Reads a `KIRIM_…_FILE` secret, without its trailing newline.
fn read_secret_file(var: &str, path: &str) -> Result<String, ConfigError> {
    if path.is_empty() {
        return Err(ConfigError::new(format!("{var} is set but empty; set it to the path of a file holding the secret, or unset it")));
    }
    let mut secret = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(format!(
            "{var}={path:?} names a file that could not be read ({e}); point it at a readable file holding only the secret"
        ))
    })?;
    let kept = secret.trim_end_matches(['\n', '\r']).len();
    secret.truncate(kept);
    if secret.is_empty() {
        return Err(ConfigError::new(format!("the file {path} (from {var}) is empty; put the secret in it, or unset {var}")));
    }
    Ok(secret)
}

/// The warning for a `KIRIM_*` variable that is not a setting.
fn unknown_var(name: &str, known: &[&str], via_file: &HashMap<String, String>) -> String {
    let upper = name.to_ascii_uppercase();
    if let Some(stem) = upper.strip_suffix(FILE_SUFFIX)
        && known.contains(&stem)
        && !known.contains(&upper.as_str())
    {
        let mut secrets: Vec<&str> = via_file.keys().map(String::as_str).collect();
        secrets.sort_unstable();
        return format!("{name} is ignored: only secrets can be read from a file ({}); set {stem} instead", secrets.join(", "));
    }
    match suggest::closest(name, known) {
        Some(intended) => {
            format!("{name} is not a Kirim setting and is ignored; did you mean {intended}?")
        }
        None => format!(
            "{name} is not a Kirim setting and is ignored; `kirim config example` lists the settings (KIRIM_ + the key in capitals)"
        ),
    }
}
