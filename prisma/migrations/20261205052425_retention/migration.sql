-- CreateTable
CREATE TABLE "AuditCheckpoint" (
    "accountSid" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,
    "dateCreated" TIMESTAMP(3) NOT NULL,
    "mac" TEXT NOT NULL,

    CONSTRAINT "AuditCheckpoint_pkey" PRIMARY KEY ("accountSid","seq")
);

-- The retention purge's indexes. IF NOT EXISTS: on a large live database the operator builds them
-- first with CREATE INDEX CONCURRENTLY (docs/operations.md "Retention"), which takes no write lock,
-- and this migration then finds them there.
-- CreateIndex
CREATE INDEX IF NOT EXISTS "Challenge_ended_dateCreated_idx" ON "Challenge"("dateCreated") WHERE (status <> 'pending');

-- CreateIndex
CREATE INDEX IF NOT EXISTS "WebhookDelivery_ended_dateCreated_idx" ON "WebhookDelivery"("dateCreated") WHERE (status = ANY (ARRAY['succeeded'::"WebhookDeliveryStatus", 'dead'::"WebhookDeliveryStatus"]));

-- AuditEvent stays append-only with one exception: the retention purge may delete an event that
-- a checkpoint covers (a checkpoint of its account at or after its seq). UPDATE and TRUNCATE stay
-- refused. The database cannot check a checkpoint's HMAC (the key is not in it), so an injected
-- statement could insert a checkpoint and then delete: `npm run audit:verify` catches exactly
-- that, because such a checkpoint does not verify. Semicolons in the bodies are written \073 (see
-- the audit_trail migration: the migration runner splits at every semicolon).
CREATE OR REPLACE FUNCTION "audit_event_append_only"() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN IF TG_OP = ''DELETE'' THEN IF EXISTS (SELECT 1 FROM "AuditCheckpoint" c WHERE c."accountSid" = OLD."accountSid" AND c."seq" >= OLD."seq") THEN RETURN OLD\073 END IF\073 END IF\073 RAISE EXCEPTION ''AuditEvent is append-only (% refused)'', TG_OP USING ERRCODE = ''insufficient_privilege''\073 END';

-- A checkpoint is written once and never changed or removed: removing one would uncover a deletion
-- (the verification then reports the gap), changing one would not verify.
CREATE FUNCTION "audit_checkpoint_append_only"() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN RAISE EXCEPTION ''AuditCheckpoint is append-only (% refused)'', TG_OP USING ERRCODE = ''insufficient_privilege''\073 END';

CREATE TRIGGER "AuditCheckpoint_append_only" BEFORE UPDATE OR DELETE ON "AuditCheckpoint"
  FOR EACH ROW EXECUTE FUNCTION "audit_checkpoint_append_only"();

CREATE TRIGGER "AuditCheckpoint_no_truncate" BEFORE TRUNCATE ON "AuditCheckpoint"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_checkpoint_append_only"();
