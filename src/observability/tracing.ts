// What the rest of the code sees of OpenTelemetry: nothing at all unless `startTracing` (in
// otel.ts, imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set) installed its hooks here. This
// file imports no OpenTelemetry package, so an untraced process never loads one.
import type { DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Telemetry } from 'bullmq';

export interface TracingHooks {
  /** Yoga plugins: the GraphQL operation span, named by operation type and root field. */
  yogaPlugins(operationLabel: (document: DocumentNode, operationName?: string | null) => string): Plugin[];
  /** BullMQ's own telemetry (`bullmq-otel`): job spans, and the producer's context carried in the job. */
  bullmq: Telemetry;
  /** Exports what is still buffered; called last on shutdown. */
  shutdown(): Promise<void>;
}

let installed: TracingHooks | undefined;

/** The installed hooks, or undefined when tracing is off (the normal case). */
export const tracing = (): TracingHooks | undefined => installed;

export function installTracing(hooks: TracingHooks): void {
  installed = hooks;
}

/**
 * True when the OpenTelemetry spec's own variables ask for traces: an OTLP endpoint (general or
 * traces-only) and the SDK not disabled. No Verity-specific switch.
 */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Starts tracing when requested, before the caller imports anything to instrument: pg, ioredis
 * and node:http are patched as they load, so the entry points import the rest of the process
 * after this resolves.
 */
export async function startTracingIfRequested(serviceName: string): Promise<void> {
  if (!tracingRequested()) return;
  const { startTracing } = await import('./otel.ts');
  installTracing(await startTracing(serviceName));
}
