-- DropIndex
DROP INDEX "AuditInbox_accountSid_id_idx";

-- DropIndex
DROP INDEX "Challenge_accountSid_idx";

-- AlterTable
ALTER TABLE "AuditInbox" DROP CONSTRAINT "AuditInbox_pkey",
ADD CONSTRAINT "AuditInbox_pkey" PRIMARY KEY ("accountSid", "id");
