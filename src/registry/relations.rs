//! Batched reads of relations, for the DataLoaders and REST's pages: each function answers for
//! many parents in one statement and applies the caller's [`Scope`] like every other read — to
//! the related rows, and to the parents they are read through.

use std::collections::HashMap;

use entity::{
    build_event, cloud_image_template, cloud_image_template_tenant, image_build, image_definition,
    image_definition_tenant, tenant, user, user_tenant,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IdenStatic, Iterable, JoinType,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationDef, sea_query::Expr,
};

use super::{
    builds::{BuildField, BuildSort},
    filter::{Filter, compile, ids_of},
    id::{self, Id},
    page::{Page, PageArgs, Sort, count_partitioned, fetch_partitioned},
    read::{self, Readable, visible},
    rows, visibility,
};
use crate::{auth::Scope, error::Error};

/// An owner of a tenant list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A definition's `allowed_tenants`.
    Definition(Id<image_definition::Entity>),
    /// A catalog entry's `allowed_tenants`.
    Template(Id<cloud_image_template::Entity>),
    /// A user's `tenants`.
    User(Id<user::Entity>),
}

/// The tenants linked to each of `owners` that `scope` may see (tenants are reference data: not
/// for anonymous readers), by name; one statement per kind of owner.
pub async fn tenants_of(
    db: &DatabaseConnection,
    scope: &Scope,
    owners: &[Owner],
) -> Result<HashMap<Owner, Vec<tenant::Model>>, Error> {
    use cloud_image_template_tenant as template_link;
    use image_definition_tenant as definition_link;
    read::may_read::<tenant::Entity>(scope)?;
    let mut grouped: HashMap<Owner, Vec<tenant::Model>> =
        owners.iter().map(|owner| (*owner, Vec::new())).collect();
    let pick =
        |kind: fn(&Owner) -> Option<i64>| -> Vec<i64> { owners.iter().filter_map(kind).collect() };
    let definitions = pick(|o| match o {
        Owner::Definition(id) => Some(id.get()),
        _ => None,
    });
    if !definitions.is_empty() {
        let parents = visibility::definitions(
            scope,
            Expr::col((
                definition_link::Entity,
                definition_link::Column::DefinitionId,
            )),
        );
        let rows = linked::<definition_link::Entity>(
            db,
            definition_link::Column::DefinitionId,
            definition_link::Column::TenantId,
            &definitions,
            parents,
        )
        .await?;
        for (owner, tenant) in rows {
            grouped
                .entry(Owner::Definition(Id::of_row(owner)))
                .or_default()
                .push(tenant);
        }
    }
    let templates = pick(|o| match o {
        Owner::Template(id) => Some(id.get()),
        _ => None,
    });
    if !templates.is_empty() {
        let parents = visibility::templates(
            scope,
            Expr::col((template_link::Entity, template_link::Column::TemplateId)),
        );
        let rows = linked::<template_link::Entity>(
            db,
            template_link::Column::TemplateId,
            template_link::Column::TenantId,
            &templates,
            parents,
        )
        .await?;
        for (owner, tenant) in rows {
            grouped
                .entry(Owner::Template(Id::of_row(owner)))
                .or_default()
                .push(tenant);
        }
    }
    let users = pick(|o| match o {
        Owner::User(id) => Some(id.get()),
        _ => None,
    });
    if !users.is_empty() {
        read::may_read::<user::Entity>(scope)?;
        let rows = linked::<user_tenant::Entity>(
            db,
            user_tenant::Column::UserId,
            user_tenant::Column::TenantId,
            &users,
            None,
        )
        .await?;
        for (owner, tenant) in rows {
            grouped
                .entry(Owner::User(Id::of_row(owner)))
                .or_default()
                .push(tenant);
        }
    }
    Ok(grouped)
}

/// `(owner, tenant)` pairs of the link table `L` for `parents` whose owner passes `visible`, by
/// tenant name.
async fn linked<L: EntityTrait>(
    db: &DatabaseConnection,
    owner: L::Column,
    tenant_id: L::Column,
    parents: &[i64],
    visible: Option<Expr>,
) -> Result<Vec<(i32, tenant::Model)>, Error> {
    let relation: RelationDef = L::belongs_to(tenant::Entity)
        .from(tenant_id)
        .to(tenant::Column::Id)
        .into();
    let mut select = L::find()
        .join(JoinType::InnerJoin, relation)
        .select_also(tenant::Entity)
        .filter(owner.is_in(ids_of(owner, parents)));
    if let Some(visible) = visible {
        select = select.filter(visible);
    }
    // The link's columns come first (`A_<column>`), the tenant's after them (`B_<column>`).
    let owner_at = L::Column::iter()
        .position(|column| column.as_str() == owner.as_str())
        .ok_or_else(|| Error::internal("a link table without its owner column"))?;
    let tenant_at = L::Column::iter().count();
    let statement = select.order_by_asc(tenant::Column::Name).into_query();
    let mut pairs = Vec::new();
    for row in db.query_all(&statement).await? {
        let Some(owner) = row.try_get_by_index::<Option<i32>>(owner_at)? else {
            continue;
        };
        if let Some(tenant) = rows::read_at::<tenant::Model>(&row, tenant_at, "B")? {
            pairs.push((owner, tenant));
        }
    }
    Ok(pairs)
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

/// A definition's id.
type DefinitionId = Id<image_definition::Entity>;

/// One page of visible builds per definition.
pub async fn builds_of_definitions(
    db: &DatabaseConnection,
    scope: &Scope,
    definitions: &[DefinitionId],
    query: &BuildsQuery,
) -> Result<HashMap<DefinitionId, Page<image_build::Model>>, Error> {
    let sort = if query.sort.is_empty() {
        image_build::Entity::default_sort()
    } else {
        query.sort.clone()
    };
    let select = visible::<image_build::Entity>(scope)?
        .filter(compile(&query.filter, db.get_database_backend())?);
    let parents: Vec<i64> = definitions.iter().map(|id| id.get()).collect();
    let pages = fetch_partitioned(
        db,
        select,
        image_build::Column::DefinitionId,
        &parents,
        &sort,
        &query.page,
    )
    .await?;
    Ok(pages
        .into_iter()
        .filter_map(|(parent, page)| Some((Id::new(parent)?, page)))
        .collect())
}

/// The number of visible builds matching `filter` per definition.
pub async fn count_builds_of_definitions(
    db: &DatabaseConnection,
    scope: &Scope,
    definitions: &[DefinitionId],
    filter: &Filter<BuildField>,
) -> Result<HashMap<DefinitionId, i64>, Error> {
    let select =
        visible::<image_build::Entity>(scope)?.filter(compile(filter, db.get_database_backend())?);
    let parents: Vec<i64> = definitions.iter().map(|id| id.get()).collect();
    let counts = count_partitioned(db, select, image_build::Column::DefinitionId, &parents).await?;
    Ok(counts
        .into_iter()
        .filter_map(|(parent, count)| Some((Id::new(parent)?, count)))
        .collect())
}

/// A build's id.
type BuildId = Id<image_build::Entity>;

/// The events of each visible build, oldest first.
pub async fn events_of_builds(
    db: &DatabaseConnection,
    scope: &Scope,
    builds: &[BuildId],
) -> Result<HashMap<BuildId, Vec<build_event::Model>>, Error> {
    let statement = visible::<build_event::Entity>(scope)?
        .filter(build_event::Column::BuildId.is_in(id::values::<image_build::Entity>(builds)))
        .order_by_asc(build_event::Column::Id)
        .into_query();
    let rows = rows::read_all::<build_event::Model>(&db.query_all(&statement).await?)?;
    let mut grouped: HashMap<BuildId, Vec<build_event::Model>> =
        builds.iter().map(|b| (*b, Vec::new())).collect();
    for event in rows {
        grouped
            .entry(Id::of_row(event.build_id))
            .or_default()
            .push(event);
    }
    Ok(grouped)
}
