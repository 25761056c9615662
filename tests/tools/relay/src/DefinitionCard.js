// A definition with its builds, paged with `@connection`; refetchable through `node(id:)`.
import { graphql } from 'relay-runtime';

export const DefinitionCard = graphql`
  fragment DefinitionCard_definition on ImageDefinition
  @refetchable(queryName: "DefinitionCardPaginationQuery")
  @argumentDefinitions(count: { type: "Int", defaultValue: 10 }, cursor: { type: "String" }) {
    id
    name
    allowedTenants {
      id
      name
    }
    builds(first: $count, after: $cursor) @connection(key: "DefinitionCard_builds") {
      totalCount
      edges {
        node {
          id
          ...BuildRow_build
        }
      }
    }
  }
`;

export const Settings = graphql`
  fragment DefinitionCard_settings on PluginSettings @refetchable(queryName: "SettingsRefetchQuery") {
    imageFactoryEnabled
    imageFactoryAllowIsoBuilds
  }
`;

export const Page = graphql`
  query DefinitionCardPageQuery($id: ID!) {
    imageDefinition(id: $id) {
      ...DefinitionCard_definition
    }
    pluginSettings {
      ...DefinitionCard_settings
    }
  }
`;
