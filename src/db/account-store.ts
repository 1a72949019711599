import type { Account } from '../generated/prisma/client.ts';
import type { PrismaClient } from './client.ts';

/** Every read and write of the Account table: the rules (who may, hashing, grace) stay in services/ and auth/. */

export function insertAccount(prisma: PrismaClient, row: { sid: string; friendlyName: string; authTokenHash: string }): Promise<Account> {
  return prisma.account.create({ data: row });
}

export async function anyAccountExists(prisma: PrismaClient): Promise<boolean> {
  return (await prisma.account.findFirst({ select: { sid: true } })) !== null;
}

export function findAccount(prisma: PrismaClient, sid: string): Promise<Account | null> {
  return prisma.account.findUnique({ where: { sid } });
}

/** What authentication compares a presented token with: the current hash and the one in its grace period. */
export interface AccountCredentials {
  sid: string;
  authTokenHash: string;
  previousAuthTokenHash: string | null;
  previousTokenValidUntil: Date | null;
}

export function findAccountCredentials(prisma: PrismaClient, sid: string): Promise<AccountCredentials | null> {
  return prisma.account.findUnique({
    where: { sid },
    select: { sid: true, authTokenHash: true, previousAuthTokenHash: true, previousTokenValidUntil: true },
  });
}

/**
 * Replaces the token hash only if it is still `expectedHash`, so two concurrent rotations cannot
 * both win. Returns false when another rotation got there first.
 */
export async function replaceTokenHash(
  prisma: PrismaClient,
  sid: string,
  expectedHash: string,
  next: { authTokenHash: string; previousAuthTokenHash: string | null; previousTokenValidUntil: Date | null },
): Promise<boolean> {
  const updated = await prisma.account.updateMany({ where: { sid, authTokenHash: expectedHash }, data: next });
  return updated.count > 0;
}
