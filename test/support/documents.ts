import { graphql } from '../../src/client/gql/index.ts';

export const Viewer = graphql(`
  query Viewer {
    viewer { sid friendlyName dateCreated }
  }
`);

export const CreateAccount = graphql(`
  mutation CreateAccount($input: CreateAccountInput!) {
    createAccount(input: $input) { authToken account { sid friendlyName } }
  }
`);

export const CreateService = graphql(`
  mutation CreateService($input: CreateServiceInput!) {
    createService(input: $input) { sid accountSid friendlyName totp { issuer timeStep codeLength skew } dateCreated dateUpdated }
  }
`);

export const UpdateService = graphql(`
  mutation UpdateService($input: UpdateServiceInput!) {
    updateService(input: $input) { sid friendlyName totp { issuer timeStep codeLength skew } dateUpdated }
  }
`);

export const DeleteService = graphql(`
  mutation DeleteService($sid: ID!) {
    deleteService(sid: $sid) { deletedSid }
  }
`);

export const GetService = graphql(`
  query GetService($sid: ID!) {
    service(sid: $sid) { sid friendlyName totp { issuer timeStep codeLength skew } }
  }
`);

export const ListServices = graphql(`
  query ListServices($first: Int, $after: String) {
    services(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
      edges { cursor node { sid friendlyName } }
    }
  }
`);

export const CreateEntity = graphql(`
  mutation CreateEntity($input: CreateEntityInput!) {
    createEntity(input: $input) { sid identity serviceSid accountSid dateCreated dateUpdated }
  }
`);

export const GetEntity = graphql(`
  query GetEntity($serviceSid: ID!, $identity: String!) {
    entity(serviceSid: $serviceSid, identity: $identity) { sid identity serviceSid }
  }
`);

export const DeleteEntity = graphql(`
  mutation DeleteEntity($serviceSid: ID!, $identity: String!) {
    deleteEntity(serviceSid: $serviceSid, identity: $identity) { deletedSid }
  }
`);

export const ListEntities = graphql(`
  query ListEntities($sid: ID!, $first: Int, $after: String) {
    service(sid: $sid) {
      entities(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { sid identity } }
      }
    }
  }
`);
