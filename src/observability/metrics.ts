import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ChallengeAlreadyRespondedError, ChallengeExpiredError, TooManyAttemptsError } from '../domain/errors.ts';
import type { EventBus } from '../events/index.ts';
import type { JobEngine } from '../jobs/index.ts';
import type { Logger } from '../logger.ts';

export type VerificationKind = 'factor' | 'challenge';
/**
 * How one code check ended. Refusals that never looked at the code count too: they are what an
 * attacker sees (Twilio 60308 attempts/throttle, 60310 factor attempts, 60322, 60323).
 */
export type VerificationOutcome = 'approved' | 'wrong_code' | 'expired' | 'already_responded' | 'max_attempts' | 'throttled';
export type WebhookOutcome = 'delivered' | 'failed' | 'dead';

/**
 * The process's Prometheus metrics, on a registry of its own (never prom-client's global one), so
 * several apps in one process — tests, a worker beside an API — never share or clash on counters.
 * Instrumented code calls the small methods below; /metrics serialises `registry`.
 */
export interface Metrics {
  readonly registry: Registry;
  /** One finished HTTP request (GraphQL, REST, health, metrics); `operation` must be a bounded label. */
  request(operation: string, status: number, seconds: number): void;
  verification(kind: VerificationKind, outcome: VerificationOutcome): void;
  /** A request refused by a throttle (the factor's guessing throttle; rate limits may add kinds). */
  throttle(kind: string): void;
  /** A challenge made EXPIRED by the expiry job or reconciliation, `now − expirationDate` late. */
  expired(expirationDate: Date, now: Date): void;
  webhookDelivery(outcome: WebhookOutcome): void;
}

export interface MetricsSources {
  jobs: JobEngine;
  events: EventBus;
  logger: Logger;
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  const registers = [registry];
  // Process RSS, heap, CPU, event-loop lag, GC: prom-client's defaults, under our prefix.
  collectDefaultMetrics({ register: registry, prefix: 'verity_' });

  const requests = new Counter({
    name: 'verity_http_requests_total',
    help: 'HTTP requests by operation and status code',
    labelNames: ['operation', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'verity_http_request_duration_seconds',
    help: 'Time to the response head, by operation',
    labelNames: ['operation'] as const,
    registers,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const verifications = new Counter({
    name: 'verity_verifications_total',
    help: 'TOTP code checks by kind (factor enrolment, challenge) and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers,
  });
  const throttles = new Counter({
    name: 'verity_throttles_total',
    help: 'Requests refused by a throttle',
    labelNames: ['kind'] as const,
    registers,
  });
  const expiryLag = new Histogram({
    name: 'verity_expiry_lag_seconds',
    help: 'How late the expiry job or reconciliation made a challenge EXPIRED',
    registers,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
  });
  const deliveries = new Counter({
    name: 'verity_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (dead: no more attempts)',
    labelNames: ['outcome'] as const,
    registers,
  });
  new Gauge({
    name: 'verity_active_subscriptions',
    help: 'Live GraphQL subscriptions (event-bus listeners) in this process',
    registers,
    collect() {
      this.set(sources.events.activeSubscriptions());
    },
  });
  new Gauge({
    name: 'verity_queue_depth',
    help: 'Jobs by state, read from the job engine at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      this.reset();
      try {
        const counts = await sources.jobs.counts();
        const queue = sources.jobs.kind === 'bullmq' ? 'verity-jobs' : 'local';
        for (const [state, n] of Object.entries(counts)) this.set({ queue, state }, n);
      } catch (err) {
        // Redis down: the scrape still answers (the other metrics matter most then); the gap shows.
        sources.logger.warn({ err }, 'metrics: queue depth unavailable');
      }
    },
  });

  return {
    registry,
    request(operation, status, seconds) {
      requests.inc({ operation, status: String(status) });
      duration.observe({ operation }, seconds);
    },
    verification(kind, outcome) {
      verifications.inc({ kind, outcome });
      // The per-factor guessing throttle (docs/security.md "Guessing throttle") is the throttle behind this outcome.
      if (outcome === 'throttled') throttles.inc({ kind: 'factor_guessing' });
    },
    throttle: (kind) => throttles.inc({ kind }),
    expired: (expirationDate, now) => expiryLag.observe(Math.max(0, (now.getTime() - expirationDate.getTime()) / 1000)),
    webhookDelivery: (outcome) => deliveries.inc({ outcome }),
  };
}

/**
 * Runs a guard that throws the refusal a client gets (expired, answered, attempts exhausted) and
 * counts which refusal it was, so call sites stay one line.
 */
export function countRefusal<T>(metrics: Metrics, kind: VerificationKind, guard: () => T): T {
  try {
    return guard();
  } catch (e) {
    const outcome = refusalOutcome(e);
    if (outcome) metrics.verification(kind, outcome);
    throw e;
  }
}

function refusalOutcome(e: unknown): VerificationOutcome | undefined {
  if (e instanceof ChallengeExpiredError) return 'expired';
  if (e instanceof ChallengeAlreadyRespondedError) return 'already_responded';
  if (e instanceof TooManyAttemptsError) return e.extra.retryAfter !== undefined ? 'throttled' : 'max_attempts';
  return undefined;
}
