//! Message templates.

use async_trait::async_trait;
use kirim_core::id::{TemplatePk, TenantPk};
use kirim_core::store::{StoreError, StoreResult};
use kirim_core::template::{NewTemplate, Template, TemplateSpec, TemplateStatus, TemplateStore};
use kirim_core::{TemplateId, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::error::{Bad, OpError, ReadResult};
use crate::rows::{Cols, ms, parsed, time};
use crate::writer::Ctx;

fn template(row: &impl Cols) -> Result<Template, Bad> {
    Ok(Template {
        pk: TemplatePk(row.int("pk")?),
        id: parsed::<TemplateId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        spec: TemplateSpec {
            name: row.text("name")?,
            display_name: row.opt_text("display_name")?,
            description: row.opt_text("description")?,
            language: row.text("language")?,
            category: row.text("category")?,
            status: parsed::<TemplateStatus>(row, "status")?,
            body: row.text("body")?,
        },
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// Checked before writing: a failing statement would roll back the writer's whole batch.
fn refuse_taken(ctx: &Ctx, tenant: TenantPk, spec: &TemplateSpec, except: Option<&TemplateId>) -> Result<(), OpError> {
    let taken = ctx.opt(
        "SELECT id FROM templates WHERE tenant_pk = ? AND name = ? AND language = ?",
        params![tenant.0, spec.name, spec.language],
        |row| Ok(row.text("id")?),
    )?;
    match taken {
        Some(id) if except.is_none_or(|e| e.as_str() != id) => Err(OpError::Refuse(StoreError::Conflict(format!(
            "template {id} is already named `{}` in `{}`; pick another name or change that one",
            spec.name, spec.language
        )))),
        _ => Ok(()),
    }
}

fn create_op(ctx: &mut Ctx, t: &NewTemplate) -> Result<Template, OpError> {
    refuse_taken(ctx, t.tenant_pk, &t.spec, None)?;
    let s = &t.spec;
    let at = ms(t.created_at);
    Ok(ctx.one(
        "INSERT INTO templates (id, tenant_pk, name, display_name, description, language, category, status, body, created_at, \
         updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        params![
            t.id.as_str(),
            t.tenant_pk.0,
            s.name,
            s.display_name.as_deref(),
            s.description.as_deref(),
            s.language,
            s.category,
            s.status.as_str(),
            s.body,
            at,
            at
        ],
        |row| Ok(template(row)?),
    )?)
}

fn update_op(ctx: &mut Ctx, (tenant, id, s, at): &(TenantPk, TemplateId, TemplateSpec, Timestamp)) -> Result<Option<Template>, OpError> {
    refuse_taken(ctx, *tenant, s, Some(id))?;
    Ok(ctx.opt(
        "UPDATE templates SET name = ?, display_name = ?, description = ?, language = ?, category = ?, status = ?, body = ?, \
         updated_at = ? WHERE tenant_pk = ? AND id = ? RETURNING *",
        params![
            s.name,
            s.display_name.as_deref(),
            s.description.as_deref(),
            s.language,
            s.category,
            s.status.as_str(),
            s.body,
            ms(*at),
            tenant.0,
            id.as_str()
        ],
        |row| Ok(template(row)?),
    )?)
}

fn delete_op(ctx: &mut Ctx, (tenant, id): &(TenantPk, TemplateId)) -> Result<Option<Template>, OpError> {
    Ok(ctx.opt("DELETE FROM templates WHERE tenant_pk = ? AND id = ? RETURNING *", params![tenant.0, id.as_str()], |row| {
        Ok(template(row)?)
    })?)
}

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn create_template(&self, new: NewTemplate) -> StoreResult<Template> {
        self.writer().call(new, create_op).await
    }

    async fn get_template(&self, tenant: TenantPk, id: &TemplateId) -> StoreResult<Option<Template>> {
        let row = sqlx::query("SELECT * FROM templates WHERE tenant_pk = ? AND id = ?")
            .bind(tenant.0)
            .bind(id.as_str())
            .fetch_optional(self.read())
            .await
            .read()?;
        row.as_ref().map(template).transpose().read()
    }

    async fn list_templates(
        &self,
        tenant: TenantPk,
        status: Option<TemplateStatus>,
        after: Option<&TemplateId>,
        limit: u32,
    ) -> StoreResult<Vec<Template>> {
        let rows = sqlx::query("SELECT * FROM templates WHERE tenant_pk = ? AND id > ? AND (? IS NULL OR status = ?) ORDER BY id LIMIT ?")
            .bind(tenant.0)
            .bind(after.map_or("", |a| a.as_str()))
            .bind(status.map(|s| s.as_str()))
            .bind(status.map(|s| s.as_str()))
            .bind(i64::from(limit.clamp(1, 1000)))
            .fetch_all(self.read())
            .await
            .read()?;
        rows.iter().map(template).collect::<Result<_, _>>().read()
    }

    async fn update_template(&self, tenant: TenantPk, id: &TemplateId, spec: TemplateSpec, at: Timestamp) -> StoreResult<Option<Template>> {
        self.writer().call((tenant, id.clone(), spec, at), update_op).await
    }

    async fn delete_template(&self, tenant: TenantPk, id: &TemplateId) -> StoreResult<Option<Template>> {
        self.writer().call((tenant, id.clone()), delete_op).await
    }
}
