import type { VerityEvent } from '../events/index.ts';
import type { Deps } from '../deps.ts';
import { fanOutWebhooks } from './webhook-fanout.ts';

export interface KnownSubscribers {
  webhookSids?: string[];
}

/**
 * The one way a committed change is announced: to the event bus (GraphQL subscriptions) and to
 * the service's webhooks (delivery rows + jobs), from the same call, so the two never disagree.
 * Called after commit only. Never throws: the change is done, and a failed fan-out is logged
 * (reconciliation re-enqueues deliveries whose rows exist).
 * `known.webhookSids`: the event's subscribed webhooks when the statement that made the change
 * already read them (src/db/webhook-match.ts), saving the lookup.
 */
export async function emit(deps: Deps, event: VerityEvent, known?: KnownSubscribers): Promise<void> {
  await emitAll(deps, [{ event, known }]);
}

/**
 * Several changes one statement committed, announced in order like consecutive `emit`s, but
 * published in one tick: the Redis bus auto-pipelines them into one write (a login approved on
 * creation announces `challenge.created` and `challenge.approved`).
 */
export async function emitAll(deps: Deps, items: { event: VerityEvent; known?: KnownSubscribers | undefined }[]): Promise<void> {
  await Promise.all(items.map(({ event }) => deps.events.publish(event)));
  for (const { event, known } of items) {
    try {
      await fanOutWebhooks(deps, event, known?.webhookSids);
    } catch (err) {
      deps.logger.warn({ err, type: event.type, accountSid: event.accountSid, serviceSid: event.serviceSid }, 'webhook fan-out failed');
    }
  }
}
