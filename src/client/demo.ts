import { graphql } from './gql/index.ts';

// The operations the /demo page sends (demo/main.ts). Written here so codegen types them; the page
// imports the generated `…Document` constants from ./gql/graphql.ts rather than these values,
// because graphql()'s lookup map holds every document in the project and would all be bundled.

export const DemoCreateFactor = graphql(`
  mutation DemoCreateFactor($input: CreateTotpFactorInput!) {
    createTotpFactor(input: $input) {
      factor {
        sid
        status
        friendlyName
        config {
          alg
          codeLength
          timeStep
        }
      }
      binding {
        secret
        qrCodeSvg
      }
    }
  }
`);

export const DemoVerifyFactor = graphql(`
  mutation DemoVerifyFactor($input: VerifyFactorInput!) {
    verifyFactor(input: $input) {
      sid
      status
    }
  }
`);

export const DemoCreateChallenge = graphql(`
  mutation DemoCreateChallenge($input: CreateChallengeInput!) {
    createChallenge(input: $input) {
      sid
      status
      expirationDate
    }
  }
`);

export const DemoVerifyChallenge = graphql(`
  mutation DemoVerifyChallenge($input: VerifyChallengeInput!) {
    verifyChallenge(input: $input) {
      sid
      status
    }
  }
`);

export const DemoChallengeUpdated = graphql(`
  subscription DemoChallengeUpdated($challengeSid: ID!) {
    challengeUpdated(challengeSid: $challengeSid) {
      sid
      status
      dateResponded
    }
  }
`);
