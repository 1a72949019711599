-- CreateTable
CREATE TABLE "AuditChain" (
    "accountSid" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "headHash" TEXT NOT NULL,
    "prevHash" TEXT NOT NULL,
    "dateUpdated" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AuditChain_pkey" PRIMARY KEY ("accountSid")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "sid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "serviceSid" TEXT,
    "entitySid" TEXT,
    "factorSid" TEXT,
    "challengeSid" TEXT,
    "actor" TEXT NOT NULL,
    "details" TEXT,
    "dateCreated" TIMESTAMP(3) NOT NULL,
    "prevHash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("sid")
);

-- CreateIndex
CREATE INDEX "AuditEvent_accountSid_type_seq_idx" ON "AuditEvent"("accountSid", "type", "seq");

-- CreateIndex
CREATE INDEX "AuditEvent_accountSid_serviceSid_seq_idx" ON "AuditEvent"("accountSid", "serviceSid", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "AuditEvent_accountSid_seq_key" ON "AuditEvent"("accountSid", "seq");

-- Append-only, enforced by the database too: the application never updates, deletes or truncates
-- audit rows, so a bug (or an injected statement running as the application) cannot either.
-- An owner/superuser can still disable these triggers: the hash chain is what reveals that.
-- The body's one semicolon is written \073 (octal, in an E'' string): PrismaPg's executeScript
-- splits a migration at every semicolon, even inside quotes or comments.
CREATE FUNCTION "audit_event_append_only"() RETURNS trigger LANGUAGE plpgsql AS
  E'BEGIN RAISE EXCEPTION ''AuditEvent is append-only (% refused)'', TG_OP USING ERRCODE = ''insufficient_privilege''\073 END';

CREATE TRIGGER "AuditEvent_append_only" BEFORE UPDATE OR DELETE ON "AuditEvent"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();

CREATE TRIGGER "AuditEvent_no_truncate" BEFORE TRUNCATE ON "AuditEvent"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();
