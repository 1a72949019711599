import { graphql } from '../../src/client/gql/index.ts';

export const Viewer = graphql(`
  query Viewer {
    viewer {
      sid
      friendlyName
      dateCreated
    }
  }
`);

export const CreateAccount = graphql(`
  mutation CreateAccount($input: CreateAccountInput!) {
    createAccount(input: $input) {
      authToken
      account {
        sid
        friendlyName
      }
    }
  }
`);

export const CreateService = graphql(`
  mutation CreateService($input: CreateServiceInput!) {
    createService(input: $input) {
      sid
      accountSid
      friendlyName
      totp {
        issuer
        timeStep
        codeLength
        skew
      }
      dateCreated
      dateUpdated
    }
  }
`);

export const UpdateService = graphql(`
  mutation UpdateService($input: UpdateServiceInput!) {
    updateService(input: $input) {
      sid
      friendlyName
      totp {
        issuer
        timeStep
        codeLength
        skew
      }
      dateUpdated
    }
  }
`);

export const DeleteService = graphql(`
  mutation DeleteService($sid: ID!) {
    deleteService(sid: $sid) {
      deletedSid
    }
  }
`);

export const GetService = graphql(`
  query GetService($sid: ID!) {
    service(sid: $sid) {
      sid
      friendlyName
      totp {
        issuer
        timeStep
        codeLength
        skew
      }
    }
  }
`);

export const ListServices = graphql(`
  query ListServices($first: Int, $after: String) {
    services(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        hasPreviousPage
        endCursor
        startCursor
      }
      edges {
        cursor
        node {
          sid
          friendlyName
        }
      }
    }
  }
`);

export const CreateEntity = graphql(`
  mutation CreateEntity($input: CreateEntityInput!) {
    createEntity(input: $input) {
      sid
      identity
      serviceSid
      accountSid
      dateCreated
      dateUpdated
    }
  }
`);

export const GetEntity = graphql(`
  query GetEntity($serviceSid: ID!, $identity: String!) {
    entity(serviceSid: $serviceSid, identity: $identity) {
      sid
      identity
      serviceSid
    }
  }
`);

export const DeleteEntity = graphql(`
  mutation DeleteEntity($serviceSid: ID!, $identity: String!) {
    deleteEntity(serviceSid: $serviceSid, identity: $identity) {
      deletedSid
    }
  }
`);

export const ListEntities = graphql(`
  query ListEntities($sid: ID!, $first: Int, $after: String) {
    service(sid: $sid) {
      entities(first: $first, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            sid
            identity
          }
        }
      }
    }
  }
`);

export const CreateTotpFactor = graphql(`
  mutation CreateTotpFactor($input: CreateTotpFactorInput!) {
    createTotpFactor(input: $input) {
      factor {
        sid
        accountSid
        serviceSid
        entitySid
        identity
        friendlyName
        status
        factorType
        config {
          alg
          skew
          codeLength
          timeStep
        }
        metadata
        dateCreated
        dateUpdated
        entity {
          sid
          identity
        }
        compatibilityWarnings {
          code
          message
          apps
        }
      }
      binding {
        secret
        uri
        qrCodeSvg
      }
    }
  }
`);

export const VerifyFactor = graphql(`
  mutation VerifyFactor($input: VerifyFactorInput!) {
    verifyFactor(input: $input) {
      sid
      status
      dateUpdated
    }
  }
`);

export const UpdateFactor = graphql(`
  mutation UpdateFactor($input: UpdateFactorInput!) {
    updateFactor(input: $input) {
      sid
      friendlyName
      status
      config {
        alg
        skew
        codeLength
        timeStep
      }
      metadata
    }
  }
`);

export const DeleteFactor = graphql(`
  mutation DeleteFactor($sid: ID!) {
    deleteFactor(sid: $sid) {
      deletedSid
    }
  }
`);

export const GetFactor = graphql(`
  query GetFactor($sid: ID!) {
    factor(sid: $sid) {
      sid
      friendlyName
      status
      identity
      config {
        alg
        skew
        codeLength
        timeStep
      }
      metadata
      entity {
        sid
        identity
      }
    }
  }
`);

export const ListFactors = graphql(`
  query ListFactors($serviceSid: ID!, $identity: String!, $first: Int, $after: String) {
    entity(serviceSid: $serviceSid, identity: $identity) {
      factors(first: $first, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            sid
            friendlyName
            status
          }
        }
      }
    }
  }
`);

export const ChallengeFields = graphql(`
  fragment ChallengeFields on Challenge {
    sid
    accountSid
    serviceSid
    entitySid
    identity
    factorSid
    status
    respondedReason
    details {
      message
      date
      fields {
        label
        value
      }
    }
    hiddenDetails
    metadata
    factorType
    expirationDate
    dateResponded
    dateCreated
    dateUpdated
  }
`);

export const CreateChallenge = graphql(`
  mutation CreateChallenge($input: CreateChallengeInput!) {
    createChallenge(input: $input) {
      ...ChallengeFields
    }
  }
`);

export const VerifyChallenge = graphql(`
  mutation VerifyChallenge($input: VerifyChallengeInput!) {
    verifyChallenge(input: $input) {
      ...ChallengeFields
    }
  }
`);

export const GetChallenge = graphql(`
  query GetChallenge($sid: ID!) {
    challenge(sid: $sid) {
      ...ChallengeFields
      factor {
        sid
        status
      }
    }
  }
`);

export const ListChallenges = graphql(`
  query ListChallenges(
    $serviceSid: ID!
    $identity: String!
    $first: Int
    $after: String
    $factorSid: ID
    $status: ChallengeStatus
    $order: Order
  ) {
    entity(serviceSid: $serviceSid, identity: $identity) {
      challenges(first: $first, after: $after, factorSid: $factorSid, status: $status, order: $order) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            sid
            status
            factorSid
            dateCreated
            factor {
              sid
              friendlyName
            }
          }
        }
      }
    }
  }
`);

export const ChallengeUpdated = graphql(`
  subscription ChallengeUpdated($challengeSid: ID, $serviceSid: ID, $identity: String) {
    challengeUpdated(challengeSid: $challengeSid, serviceSid: $serviceSid, identity: $identity) {
      sid
      status
      identity
      factor {
        sid
      }
    }
  }
`);

export const FactorUpdated = graphql(`
  subscription FactorUpdated($factorSid: ID, $serviceSid: ID, $identity: String) {
    factorUpdated(factorSid: $factorSid, serviceSid: $serviceSid, identity: $identity) {
      sid
      status
      friendlyName
      entity {
        identity
      }
    }
  }
`);

export const WebhookFields = graphql(`
  fragment WebhookFields on Webhook {
    sid
    accountSid
    serviceSid
    friendlyName
    eventTypes
    status
    version
    webhookUrl
    webhookMethod
    signing
    dateCreated
    dateUpdated
  }
`);

export const CreateWebhook = graphql(`
  mutation CreateWebhook($input: CreateWebhookInput!) {
    createWebhook(input: $input) {
      webhook {
        ...WebhookFields
      }
      signingSecret
    }
  }
`);

export const UpdateWebhook = graphql(`
  mutation UpdateWebhook($input: UpdateWebhookInput!) {
    updateWebhook(input: $input) {
      ...WebhookFields
    }
  }
`);

export const DeleteWebhook = graphql(`
  mutation DeleteWebhook($sid: ID!) {
    deleteWebhook(sid: $sid) {
      deletedSid
    }
  }
`);

export const ListWebhooks = graphql(`
  query ListWebhooks($serviceSid: ID!, $first: Int, $after: String) {
    webhooks(serviceSid: $serviceSid, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          ...WebhookFields
        }
      }
    }
  }
`);

export const WebhookDeliveries = graphql(`
  query WebhookDeliveries($webhookSid: ID!, $first: Int, $after: String, $status: WebhookDeliveryStatus, $order: Order) {
    webhookDeliveries(webhookSid: $webhookSid, first: $first, after: $after, status: $status, order: $order) {
      totalCount
      edges {
        node {
          sid
          webhookSid
          eventUuid
          eventType
          payload
          status
          attempts
          lastError
          lastStatusCode
          nextAttemptAt
          deliveredAt
          dateCreated
        }
      }
    }
  }
`);

export const RedeliverWebhookDelivery = graphql(`
  mutation RedeliverWebhookDelivery($sid: ID!) {
    redeliverWebhookDelivery(sid: $sid) {
      sid
      status
      attempts
      eventUuid
    }
  }
`);

export const RotateAuthToken = graphql(`
  mutation RotateAuthToken($input: RotateAuthTokenInput) {
    rotateAuthToken(input: $input) {
      authToken
      previousTokenValidUntil
      account {
        sid
      }
    }
  }
`);

export const CreateAccessToken = graphql(`
  mutation CreateAccessToken($input: CreateAccessTokenInput!) {
    createAccessToken(input: $input) {
      token
      expiresAt
    }
  }
`);
