//! Tenant visibility (SPEC §4), compiled to SQL in this one place.
//!
//! A definition is visible when its `allowed_tenants` is empty or shares a tenant with the
//! principal; a build (and its events) when its definition is; a catalog entry by its own
//! `allowed_tenants`. Every read path — lists, counts, lookups, loaders, subscriptions, REST —
//! takes its condition from [`Readable::rows`](super::read::Readable::rows), which calls these.
//! The [`Scope`] itself (what a principal may read) is `auth`'s.

use entity::{
    build_event, build_log_line, cloud_image_template_tenant, image_build, image_definition_tenant,
};
use sea_orm::{
    EntityName,
    sea_query::{Expr, ExprTrait, Query},
};

use crate::auth::Scope;

/// Rows whose `outer` column names an object visible through the link table `L`
/// (`owner` → `tenant_id`).
fn through_link<L: EntityName + Default>(
    scope: &Scope,
    outer: Expr,
    owner: impl sea_orm::sea_query::IntoIden + Clone,
    tenant: impl sea_orm::sea_query::IntoIden + Clone,
) -> Option<Expr> {
    let tenants = scope.tenants()?;
    let restricted = Query::select()
        .column(owner.clone())
        .from(L::default())
        .take();
    let unrestricted = outer.clone().not_in_subquery(restricted);
    if tenants.is_empty() {
        return Some(unrestricted);
    }
    let shared = Query::select()
        .column(owner)
        .from(L::default())
        .and_where(Expr::col(tenant).is_in(tenants.iter().copied()))
        .take();
    Some(unrestricted.or(outer.in_subquery(shared)))
}

/// Visible definitions, as a condition on `image_definition.id` given by `outer`.
pub fn definitions(scope: &Scope, outer: Expr) -> Option<Expr> {
    through_link::<image_definition_tenant::Entity>(
        scope,
        outer,
        image_definition_tenant::Column::DefinitionId,
        image_definition_tenant::Column::TenantId,
    )
}

/// Visible builds, as a condition on `image_build` rows.
pub fn builds(scope: &Scope) -> Option<Expr> {
    definitions(
        scope,
        Expr::col((image_build::Entity, image_build::Column::DefinitionId)),
    )
}

/// Visible build events, as a condition on `build_event` rows.
pub fn events(scope: &Scope) -> Option<Expr> {
    let builds = builds(scope)?;
    let visible = Query::select()
        .column((image_build::Entity, image_build::Column::Id))
        .from(image_build::Entity)
        .and_where(builds)
        .take();
    Some(Expr::col((build_event::Entity, build_event::Column::BuildId)).in_subquery(visible))
}

/// Visible log lines, as a condition on `build_log_line` rows: those of visible builds.
pub fn log_lines(scope: &Scope) -> Option<Expr> {
    let builds = builds(scope)?;
    let visible = Query::select()
        .column((image_build::Entity, image_build::Column::Id))
        .from(image_build::Entity)
        .and_where(builds)
        .take();
    Some(Expr::col((build_log_line::Entity, build_log_line::Column::BuildId)).in_subquery(visible))
}

/// Visible catalog entries, as a condition on `cloud_image_template.id` given by `outer`.
pub fn templates(scope: &Scope, outer: Expr) -> Option<Expr> {
    through_link::<cloud_image_template_tenant::Entity>(
        scope,
        outer,
        cloud_image_template_tenant::Column::TemplateId,
        cloud_image_template_tenant::Column::TenantId,
    )
}
