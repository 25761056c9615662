// A build as a row of a list: refetchable on its own through `node(id:)`.
import { graphql } from 'relay-runtime';

export const BuildRow = graphql`
  fragment BuildRow_build on ImageBuild @refetchable(queryName: "BuildRowRefetchQuery") {
    id
    status
    statusColor
    outputName
    created
    definition {
      id
      name
    }
  }
`;
