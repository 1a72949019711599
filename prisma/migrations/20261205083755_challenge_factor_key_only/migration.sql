-- DropForeignKey
ALTER TABLE "Challenge" DROP CONSTRAINT "Challenge_accountSid_fkey";

-- DropForeignKey
ALTER TABLE "Challenge" DROP CONSTRAINT "Challenge_entitySid_fkey";

-- DropForeignKey
ALTER TABLE "Challenge" DROP CONSTRAINT "Challenge_serviceSid_fkey";
