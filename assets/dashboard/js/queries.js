// The GraphQL documents of the dashboard, in one place: what it asks of the API is readable here.

/** What a row of a build list shows; also what live events carry (see BUILD_DETAIL). */
export const BUILD_ROW = `
fragment BuildRow on ImageBuild {
  id status statusColor outputName outputVmid imageVersion created lastUpdated startedAt completedAt
  definition { id name allowedTenants { id } }
  createdBy { username }
}`;

/** Every field of a build but its events: the build page, and every live event's build. */
export const BUILD_DETAIL = `
fragment BuildDetail on ImageBuild {
  ...BuildRow
  backendBuildId targetNode variables timeoutSeconds netboxJobId backendResponse error
  proxmoxEndpoint { id name }
  cloudImageTemplate { id name slug }
  rebuildOf { id outputName }
}
${BUILD_ROW}`;

/** Who signed in, and the newest event they can see: where the live subscription starts. */
export const START = `
query Start {
  me { id username role }
  newest: imageBuilds(first: 1, orderBy: [{ field: LAST_UPDATED, direction: DESC }]) {
    nodes { id events { id } }
  }
}`;

/** Every status change the caller can see, after `after` (replayed), then live. */
export const STATUS_CHANGES = `
subscription StatusChanges($after: ID) {
  buildStatusChanged(afterEventId: $after) {
    eventId previousStatus status at message
    actor { username }
    build { ...BuildDetail }
  }
}
${BUILD_DETAIL}`;

export const DEFINITIONS = `
query Definitions($filter: ImageDefinitionFilter, $first: Int, $after: String, $last: Int, $before: String) {
  imageDefinitions(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes {
      id name slug enabled builderType osFamily osRelease targetNode
      allowedTenants { id name }
      latestBuild { ...BuildRow }
    }
  }
}
${BUILD_ROW}`;

export const DEFINITION = `
query Definition($id: ID!) {
  imageDefinition(id: $id) {
    id name slug description enabled builderType targetNode sourceTemplateVmid
    isoUrl isoChecksum isoStorage defaultStorage defaultBridge osFamily osRelease defaultCiuser
    provisionerRecipe defaultVariables created lastUpdated
    proxmoxEndpoint { id name }
    targetCluster { id name }
    allowedTenants { id name slug }
    builds(first: 10) { totalCount nodes { ...BuildRow } }
  }
}
${BUILD_ROW}`;

/** Asked apart from DEFINITION: a server without `packerTemplate` refuses only this request. */
export const DEFINITION_TEMPLATE = `
query DefinitionTemplate($id: ID!) { imageDefinition(id: $id) { id packerTemplate } }`;

export const BUILD_TEMPLATE = `
query BuildTemplate($id: ID!) { imageBuild(id: $id) { id packerTemplate } }`;

export const BUILDS = `
query Builds($filter: ImageBuildFilter, $first: Int, $after: String, $last: Int, $before: String) {
  imageBuilds(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { ...BuildRow }
  }
}
${BUILD_ROW}`;

/** The choices of the build filters. */
export const BUILD_FILTER_CHOICES = `
query BuildFilterChoices {
  imageDefinitions(first: 100) { totalCount nodes { id name } }
  tenants(first: 100) { totalCount nodes { id name } }
}`;

export const BUILD = `
query Build($id: ID!) {
  imageBuild(id: $id) {
    ...BuildDetail
    definition { id name slug builderType }
    events { id fromStatus toStatus message at actor { username } }
  }
}
${BUILD_DETAIL}`;

/** The first page of a build's log (SPEC §7.5); asked apart, like the template. */
export const BUILD_LOG = `
query BuildLog($id: ID!) {
  imageBuild(id: $id) {
    id
    log(first: 100) { nodes { seq at stream line } pageInfo { hasNextPage endCursor } }
  }
}`;

/** The rest of a build's log after `after`, then live; it ends once the build is final. */
export const FOLLOW_LOG = `
subscription FollowLog($id: ID!, $after: Int) {
  buildLog(buildId: $id, afterSeq: $after) { seq at stream line }
}`;

export const QUEUE_BUILD = `
mutation QueueBuild($input: QueueImageBuildInput!) {
  queueImageBuild(input: $input) { ...BuildDetail }
}
${BUILD_DETAIL}`;

export const CANCEL_BUILD = `
mutation CancelBuild($id: ID!) { cancelImageBuild(id: $id) { ...BuildDetail } }
${BUILD_DETAIL}`;

export const REBUILD = `
mutation Rebuild($id: ID!) { rebuildImage(id: $id) { ...BuildDetail } }
${BUILD_DETAIL}`;

const SETTINGS_FIELDS = `
  imageFactoryEnabled imageFactoryMaxConcurrentBuilds imageFactoryDefaultJobTimeout
  imageFactoryAllowIsoBuilds imageFactoryAllowCustomVariables lastUpdated`;

export const SETTINGS = `query Settings { pluginSettings { ${SETTINGS_FIELDS} } }`;

export const UPDATE_SETTINGS = `
mutation UpdateSettings($input: UpdatePluginSettingsInput!) {
  updatePluginSettings(input: $input) { ${SETTINGS_FIELDS} }
}`;
