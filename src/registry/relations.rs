//! Batched reads of relations, for the DataLoaders: each function answers for many parents in one
//! statement and applies the caller's [`Scope`] like every other read.

use std::collections::HashMap;

use entity::{
    build_event, cloud_image_template_tenant, image_build, image_definition_tenant, tenant,
    user_tenant,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, JoinType, ModelTrait, QueryFilter, QueryOrder,
    QuerySelect, RelationDef,
};

use super::{
    builds::{BuildField, BuildSort},
    filter::{Filter, compile, ids_of},
    page::{Page, PageArgs, Sort, count_partitioned, fetch_partitioned},
    read::{Readable, visible},
    visibility::Scope,
};
use crate::error::Error;

/// Which tenant list a parent has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TenantLink {
    /// A definition's `allowed_tenants`.
    Definition,
    /// A catalog entry's `allowed_tenants`.
    Template,
    /// A user's `tenants`.
    User,
}

/// The tenants linked to each parent, by name.
pub async fn tenants_of(
    db: &DatabaseConnection,
    link: TenantLink,
    parents: &[i64],
) -> Result<HashMap<i64, Vec<tenant::Model>>, Error> {
    use cloud_image_template_tenant as template_link;
    use image_definition_tenant as definition_link;
    let rows = match link {
        TenantLink::Definition => {
            linked::<definition_link::Entity>(
                db,
                definition_link::Column::DefinitionId,
                definition_link::Column::TenantId,
                parents,
            )
            .await?
        }
        TenantLink::Template => {
            linked::<template_link::Entity>(
                db,
                template_link::Column::TemplateId,
                template_link::Column::TenantId,
                parents,
            )
            .await?
        }
        TenantLink::User => {
            linked::<user_tenant::Entity>(
                db,
                user_tenant::Column::UserId,
                user_tenant::Column::TenantId,
                parents,
            )
            .await?
        }
    };
    let mut grouped: HashMap<i64, Vec<tenant::Model>> =
        parents.iter().map(|p| (*p, Vec::new())).collect();
    for (owner, tenant) in rows {
        grouped.entry(owner).or_default().push(tenant);
    }
    Ok(grouped)
}

/// `(owner, tenant)` pairs of the link table `L`, by tenant name.
async fn linked<L: EntityTrait>(
    db: &DatabaseConnection,
    owner: L::Column,
    tenant_id: L::Column,
    parents: &[i64],
) -> Result<Vec<(i64, tenant::Model)>, Error> {
    let relation: RelationDef = L::belongs_to(tenant::Entity)
        .from(tenant_id)
        .to(tenant::Column::Id)
        .into();
    let rows = L::find()
        .join(JoinType::InnerJoin, relation)
        .select_also(tenant::Entity)
        .filter(owner.is_in(ids_of(owner, parents)))
        .order_by_asc(tenant::Column::Name)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(link, tenant)| {
            let owner = match link.get(owner) {
                sea_orm::Value::Int(Some(id)) => i64::from(id),
                _ => return None,
            };
            Some((owner, tenant?))
        })
        .collect())
}

/// What a nested `builds(…)` list asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildsQuery {
    /// The filter.
    pub filter: Filter<BuildField>,
    /// The ordering (default when empty).
    pub sort: Vec<Sort<BuildSort>>,
    /// The page.
    pub page: PageArgs,
}

/// One page of visible builds per definition.
pub async fn builds_of_definitions(
    db: &DatabaseConnection,
    scope: &Scope,
    definitions: &[i64],
    query: &BuildsQuery,
) -> Result<HashMap<i64, Page<image_build::Model>>, Error> {
    let sort = if query.sort.is_empty() {
        image_build::Entity::default_sort()
    } else {
        query.sort.clone()
    };
    let select = visible::<image_build::Entity>(scope).filter(compile(&query.filter)?);
    fetch_partitioned(
        db,
        select,
        image_build::Column::DefinitionId,
        definitions,
        &sort,
        &query.page,
    )
    .await
}

/// The number of visible builds matching `filter` per definition.
pub async fn count_builds_of_definitions(
    db: &DatabaseConnection,
    scope: &Scope,
    definitions: &[i64],
    filter: &Filter<BuildField>,
) -> Result<HashMap<i64, i64>, Error> {
    let select = visible::<image_build::Entity>(scope).filter(compile(filter)?);
    count_partitioned(db, select, image_build::Column::DefinitionId, definitions).await
}

/// The events of each visible build, oldest first.
pub async fn events_of_builds(
    db: &DatabaseConnection,
    scope: &Scope,
    builds: &[i64],
) -> Result<HashMap<i64, Vec<build_event::Model>>, Error> {
    let rows = visible::<build_event::Entity>(scope)
        .filter(build_event::Column::BuildId.is_in(ids_of(build_event::Column::BuildId, builds)))
        .order_by_asc(build_event::Column::Id)
        .all(db)
        .await?;
    let mut grouped: HashMap<i64, Vec<build_event::Model>> =
        builds.iter().map(|b| (*b, Vec::new())).collect();
    for event in rows {
        grouped
            .entry(i64::from(event.build_id))
            .or_default()
            .push(event);
    }
    Ok(grouped)
}
