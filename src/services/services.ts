import { z } from 'zod';
import type { Service } from '../generated/prisma/client.ts';
import { NotFoundError } from '../domain/errors.ts';
import { isSid, newSid, normalizeSid } from '../domain/sid.ts';
import { pageArgsSchema, parseInput, serviceFriendlyNameSchema, serviceTotpSchema } from '../domain/validation.ts';
import { keysetPage } from '../db/paging.ts';
import type { Tenant } from './context.ts';
import { requireManagement } from '../auth/index.ts';
import { allowedOriginsSchema } from '../domain/origin.ts';
import { serviceChanged } from '../auth/origins.ts';

export interface TotpDefaultsInput {
  issuer?: string | null;
  timeStep?: number | null;
  codeLength?: number | null;
  skew?: number | null;
}

const createInput = z.object({
  friendlyName: serviceFriendlyNameSchema,
  totp: serviceTotpSchema.nullish(),
  allowedOrigins: allowedOriginsSchema.nullish(),
});
const updateInput = z.object({
  sid: z.string(),
  friendlyName: serviceFriendlyNameSchema.nullish(),
  totp: serviceTotpSchema.nullish(),
  allowedOrigins: allowedOriginsSchema.nullish(),
});

/** undefined keeps a stored default, null clears it (falls back to Twilio's default). */
function totpData(totp: TotpDefaultsInput | null | undefined) {
  if (!totp) return {};
  return {
    totpIssuer: totp.issuer?.trim(),
    totpTimeStep: totp.timeStep,
    totpCodeLength: totp.codeLength,
    totpSkew: totp.skew,
  };
}

export async function createService(
  t: Tenant,
  input: { friendlyName: string; totp?: TotpDefaultsInput | null; allowedOrigins?: string[] | null },
): Promise<Service> {
  requireManagement(t);
  const data = parseInput(createInput, input);
  const service = await t.deps.prisma.service.create({
    data: {
      sid: newSid('service'),
      accountSid: t.accountSid,
      friendlyName: data.friendlyName.trim(),
      ...totpData(data.totp),
      allowedOrigins: data.allowedOrigins ?? [],
    },
  });
  serviceChanged(t.deps, service.sid);
  return service;
}

/** Tenancy: another account's SID and a SID that does not exist are indistinguishable. */
export async function findService(t: Tenant, sid: string): Promise<Service | null> {
  if (!isSid('service', sid)) return null;
  return t.deps.prisma.service.findFirst({ where: { sid: normalizeSid(sid), accountSid: t.accountSid } });
}

export async function getService(t: Tenant, sid: string): Promise<Service> {
  const service = await findService(t, sid);
  if (!service) throw new NotFoundError('Service', sid);
  return service;
}

export async function updateService(
  t: Tenant,
  input: { sid: string; friendlyName?: string | null; totp?: TotpDefaultsInput | null; allowedOrigins?: string[] | null },
): Promise<Service> {
  requireManagement(t);
  const data = parseInput(updateInput, input);
  const service = await getService(t, data.sid);
  const updated = await t.deps.prisma.service.update({
    where: { sid: service.sid },
    data: {
      friendlyName: data.friendlyName?.trim() ?? undefined,
      ...totpData(data.totp),
      allowedOrigins: data.allowedOrigins ?? undefined,
    },
  });
  serviceChanged(t.deps, service.sid);
  return updated;
}

/** Deleting a service deletes its entities, factors and challenges (foreign keys cascade). */
export async function deleteService(t: Tenant, sid: string): Promise<{ deletedSid: string }> {
  requireManagement(t);
  const deleted = await t.deps.prisma.service.deleteMany({
    where: { sid: isSid('service', sid) ? normalizeSid(sid) : '', accountSid: t.accountSid },
  });
  if (deleted.count === 0) throw new NotFoundError('Service', sid);
  serviceChanged(t.deps, normalizeSid(sid));
  return { deletedSid: normalizeSid(sid) };
}

/** `order` (default asc, by creation) lets the REST facade page backwards (Twilio previous_page_url). */
export async function listServices(t: Tenant, args: { first?: number | null; after?: string | null; order?: 'asc' | 'desc' | null }) {
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  return keysetPage(t.deps.prisma.service, { accountSid: t.accountSid }, { ...page, order: args.order ?? 'asc' });
}
