import { randomBytes } from 'node:crypto';

/** A Redis key prefix of its own for one test run: parallel files never see each other's jobs or events. */
export const randomPrefix = (base = 'verity-test') => `${base}-${randomBytes(4).toString('hex')}`;
