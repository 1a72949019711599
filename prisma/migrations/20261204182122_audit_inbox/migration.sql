-- CreateTable
CREATE TABLE "AuditInbox" (
    "id" BIGSERIAL NOT NULL,
    "sid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "serviceSid" TEXT,
    "entitySid" TEXT,
    "factorSid" TEXT,
    "challengeSid" TEXT,
    "actor" TEXT NOT NULL,
    "details" TEXT,
    "dateCreated" TIMESTAMP(3) NOT NULL,
    "contentHash" TEXT NOT NULL,

    CONSTRAINT "AuditInbox_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AuditInbox_accountSid_id_idx" ON "AuditInbox"("accountSid", "id");
