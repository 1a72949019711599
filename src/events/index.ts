import { createPubSub } from 'graphql-yoga';

/**
 * A status change, published after its transaction commits (never for a rolled-back change).
 * Carries SIDs only: subscribers re-read the resource, scoped to their account.
 */
export type VerityEvent =
  | {
      type: 'challenge.created' | 'challenge.approved' | 'challenge.denied' | 'challenge.expired';
      accountSid: string;
      serviceSid: string;
      identity: string;
      factorSid: string;
      challengeSid: string;
    }
  | {
      type: 'factor.created' | 'factor.verified' | 'factor.updated' | 'factor.deleted';
      accountSid: string;
      serviceSid: string;
      identity: string;
      factorSid: string;
    };

export interface EventBus {
  /** Never throws: a lost event must not fail the request whose change already committed. */
  publish(event: VerityEvent): Promise<void>;
  /** Every event of one account, as they are published. */
  subscribe(accountSid: string): AsyncIterable<VerityEvent>;
  close(): Promise<void>;
}

type Topics = { 'verity:events': [accountSid: string, event: VerityEvent] };

/** In-process pub/sub (embedded mode). */
export function createLocalEventBus(onError: (err: unknown) => void = () => {}): EventBus {
  const pubSub = createPubSub<Topics>();
  return {
    async publish(event) {
      try {
        pubSub.publish('verity:events', event.accountSid, event);
      } catch (err) {
        onError(err);
      }
    },
    subscribe: (accountSid) => pubSub.subscribe('verity:events', accountSid),
    close: async () => {},
  };
}
