import { graphql } from '../../src/client/gql/index.ts';

export const AuditEvents = graphql(`
  query AuditEvents($first: Int, $after: String, $serviceSid: ID, $type: String, $order: Order) {
    auditEvents(first: $first, after: $after, serviceSid: $serviceSid, type: $type, order: $order) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          sid
          accountSid
          seq
          type
          serviceSid
          entitySid
          factorSid
          challengeSid
          actor
          details
          detailsText
          dateCreated
          prevHash
          hash
        }
      }
    }
  }
`);
