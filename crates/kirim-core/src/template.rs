//! Message templates (reference 003): a tenant's texts with named variables (`{{job_ref}}`),
//! a category, a language and an approval status, sent by id with the variables' values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Timestamp;
use crate::id::{TemplateId, TemplatePk, TenantPk};
use crate::store::StoreResult;

/// Whether a template may be sent. On Kirim's own connectors the tenant sets it; on the Cloud
/// API connector it will mirror Meta's review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
}

impl TemplateStatus {
    pub const ALL: [TemplateStatus; 3] = [Self::Approved, Self::Pending, Self::Rejected];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Approved => "APPROVED",
            Self::Pending => "PENDING",
            Self::Rejected => "REJECTED",
        }
    }
}

impl FromStr for TemplateStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s.trim())).ok_or(())
    }
}

impl fmt::Display for TemplateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WhatsApp's template categories.
pub const CATEGORIES: [&str; 3] = ["UTILITY", "MARKETING", "AUTHENTICATION"];

/// A template apart from its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    /// A machine name, unique per language (`appointment_reminder`).
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// A language tag such as `en_GB` or `ms`.
    pub language: String,
    pub category: String,
    pub status: TemplateStatus,
    /// The text, with variables written `{{name}}`.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub pk: TemplatePk,
    pub id: TemplateId,
    pub tenant_pk: TenantPk,
    pub spec: TemplateSpec,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Template {
    /// The variables of the body, in order of first use.
    pub fn variables(&self) -> Vec<String> {
        variables(&self.spec.body).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub id: TemplateId,
    pub tenant_pk: TenantPk,
    pub spec: TemplateSpec,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// `Conflict` when the tenant has a template of that name and language.
    async fn create_template(&self, template: NewTemplate) -> StoreResult<Template>;
    async fn get_template(&self, tenant: TenantPk, id: &TemplateId) -> StoreResult<Option<Template>>;
    /// Oldest first, after the cursor.
    async fn list_templates(
        &self,
        tenant: TenantPk,
        status: Option<TemplateStatus>,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> StoreResult<Vec<Template>>;
    /// `Conflict` as for create.
    async fn update_template(&self, tenant: TenantPk, id: &TemplateId, spec: TemplateSpec, at: Timestamp) -> StoreResult<Option<Template>>;
    async fn delete_template(&self, tenant: TenantPk, id: &TemplateId) -> StoreResult<Option<Template>>;
}

/// The longest variable name.
pub const MAX_VARIABLE_CHARS: usize = 64;

/// The variables of a body, in order of first use: `{{ name }}` with a name of letters,
/// digits and underscores (spaces inside the braces are allowed). An unclosed `{{` or a
/// bad name is an error naming it.
pub fn variables(body: &str) -> Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for piece in pieces(body)? {
        if let Piece::Var(name) = piece
            && seen.insert(name)
        {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn pieces(body: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| format!("`{{{{` at `{}` is never closed with `}}}}`", snippet(&rest[open..])))?;
        let name = after[..close].trim();
        let valid =
            !name.is_empty() && name.chars().count() <= MAX_VARIABLE_CHARS && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`{{{{{}}}}}` is not a variable; name variables with letters, digits and underscores, e.g. {{{{job_ref}}}}",
                &after[..close]
            ));
        }
        out.push(Piece::Var(name));
        rest = &after[close + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

fn snippet(s: &str) -> String {
    s.chars().take(20).collect()
}

/// Why values do not fit a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub missing: Vec<String>,
    pub unknown: Vec<String>,
}

/// The body with every variable replaced by its value; every variable needs a value and
/// every value a variable.
pub fn render(body: &str, values: &BTreeMap<String, String>) -> Result<String, RenderError> {
    let pieces = pieces(body).map_err(|_| RenderError { missing: Vec::new(), unknown: Vec::new() })?;
    let wanted: BTreeSet<&str> = pieces.iter().filter_map(|p| if let Piece::Var(n) = p { Some(*n) } else { None }).collect();
    let mut missing: Vec<String> = Vec::new();
    for p in &pieces {
        if let Piece::Var(n) = p
            && !values.contains_key(*n)
            && !missing.iter().any(|m| m == n)
        {
            missing.push((*n).to_owned());
        }
    }
    let unknown: Vec<String> = values.keys().filter(|k| !wanted.contains(k.as_str())).cloned().collect();
    if !missing.is_empty() || !unknown.is_empty() {
        return Err(RenderError { missing, unknown });
    }
    Ok(pieces
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => t,
            Piece::Var(n) => values.get(n).map_or("", String::as_str),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn variables_are_named_in_order_once() {
        assert_eq!(variables("Hi {{name}}, job {{ job_ref }} for {{name}}").unwrap(), vec!["name", "job_ref"]);
        assert_eq!(variables("no variables").unwrap(), Vec::<String>::new());
        assert!(variables("Hi {{name").unwrap_err().contains("never closed"));
        assert!(variables("Hi {{first name}}").unwrap_err().contains("not a variable"));
        assert!(variables("Hi {{}}").is_err());
    }

    #[test]
    fn rendering_needs_exactly_the_variables() {
        let body = "Hi {{name}}, see you {{ date }}.";
        assert_eq!(render(body, &values(&[("name", "Siti"), ("date", "Monday")])).unwrap(), "Hi Siti, see you Monday.");
        let err = render(body, &values(&[("name", "Siti"), ("time", "9am")])).unwrap_err();
        assert_eq!(err, RenderError { missing: vec!["date".into()], unknown: vec!["time".into()] });
        assert_eq!("approved".parse::<TemplateStatus>(), Ok(TemplateStatus::Approved));
    }
}
