import { z } from 'zod';
import type { Entity } from '../generated/prisma/client.ts';
import { ConflictError, NotFoundError } from '../domain/errors.ts';
import { isSid, newSid, normalizeSid } from '../domain/sid.ts';
import { identitySchema, pageArgsSchema, parseInput } from '../domain/validation.ts';
import { keysetPage } from '../db/paging.ts';
import type { Tenant } from './context.ts';
import { findService, getService } from './services.ts';
import { Prisma } from '../generated/prisma/client.ts';
import { assertInScope } from './scope.ts';

const identityInput = z.object({ serviceSid: z.string(), identity: identitySchema });

export async function createEntity(t: Tenant, input: { serviceSid: string; identity: string }): Promise<Entity> {
  const { identity } = parseInput(identityInput, input);
  const service = await getService(t, input.serviceSid);
  try {
    return await t.deps.prisma.entity.create({
      data: { sid: newSid('entity'), accountSid: t.accountSid, serviceSid: service.sid, identity },
    });
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
      throw new ConflictError(`Entity ${identity} already exists in service ${service.sid}`);
    }
    throw e;
  }
}

/**
 * The entity for `identity`, created if missing (factor enrolment creates it, as Twilio does).
 * Concurrent callers race on the unique (service, identity) index; the loser reads the winner's row.
 */
export async function ensureEntity(t: Tenant, serviceSid: string, identity: string): Promise<Entity> {
  const where = { serviceSid_identity: { serviceSid, identity } };
  const existing = await t.deps.prisma.entity.findUnique({ where });
  if (existing) return existing;
  try {
    return await t.deps.prisma.entity.create({
      data: { sid: newSid('entity'), accountSid: t.accountSid, serviceSid, identity },
    });
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
      return t.deps.prisma.entity.findUniqueOrThrow({ where });
    }
    throw e;
  }
}

/** Entities are addressed by identity within a service (Twilio); invalid identities simply match nothing. */
export async function findEntity(t: Tenant, serviceSid: string, identity: string): Promise<Entity | null> {
  const service = await findService(t, serviceSid);
  if (!service) return null;
  assertInScope(t, { serviceSid: service.sid, identity });
  if (!identitySchema.safeParse(identity).success) return null;
  return t.deps.prisma.entity.findFirst({ where: { serviceSid: service.sid, identity, accountSid: t.accountSid } });
}

/** Like findEntity, but an entity that is not there (in this account and service) is NOT_FOUND (Twilio 60392). */
export async function getEntity(t: Tenant, serviceSid: string, identity: string): Promise<Entity> {
  const entity = await findEntity(t, serviceSid, identity);
  if (!entity) throw new NotFoundError('Entity', identity);
  return entity;
}

/** By SID within the caller's account: another tenant's SID is null, like one that does not exist. */
export async function findEntityBySid(t: Tenant, sid: string): Promise<Entity | null> {
  if (!isSid('entity', sid)) return null;
  const e = await t.deps.prisma.entity.findFirst({ where: { sid: normalizeSid(sid), accountSid: t.accountSid } });
  if (e) assertInScope(t, e);
  return e;
}

/** By SID within the caller's account; findUnique calls in one tick are batched by Prisma (no N+1). */
export async function getEntityBySid(t: Tenant, sid: string): Promise<Entity> {
  const e = await t.deps.prisma.entity.findUnique({ where: { sid } });
  if (!e || e.accountSid !== t.accountSid) throw new NotFoundError('Entity', sid);
  assertInScope(t, e);
  return e;
}

export async function deleteEntity(t: Tenant, serviceSid: string, identity: string): Promise<{ deletedSid: string }> {
  const entity = await findEntity(t, serviceSid, identity);
  if (!entity) throw new NotFoundError('Entity', identity);
  // Factors and challenges go with it (foreign keys cascade).
  await t.deps.prisma.entity.delete({ where: { sid: entity.sid } });
  return { deletedSid: entity.sid };
}

/** `order` (default asc, by creation) lets the REST facade page backwards (Twilio previous_page_url). */
export async function listEntities(
  t: Tenant,
  serviceSid: string,
  args: { first?: number | null; after?: string | null; order?: 'asc' | 'desc' | null },
) {
  const page = parseInput(pageArgsSchema, { first: args.first, after: args.after });
  return keysetPage(t.deps.prisma.entity, { serviceSid, accountSid: t.accountSid }, { ...page, order: args.order ?? 'asc' });
}
