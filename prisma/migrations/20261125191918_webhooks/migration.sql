-- CreateEnum
CREATE TYPE "WebhookStatus" AS ENUM ('enabled', 'disabled');

-- CreateEnum
CREATE TYPE "WebhookVersion" AS ENUM ('v1', 'v2');

-- CreateEnum
CREATE TYPE "WebhookSigning" AS ENUM ('twilio', 'standard');

-- CreateEnum
CREATE TYPE "WebhookDeliveryStatus" AS ENUM ('pending', 'succeeded', 'failed', 'dead');

-- CreateTable
CREATE TABLE "Webhook" (
    "sid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "serviceSid" TEXT NOT NULL,
    "friendlyName" TEXT NOT NULL,
    "eventTypes" TEXT[],
    "status" "WebhookStatus" NOT NULL DEFAULT 'enabled',
    "version" "WebhookVersion" NOT NULL DEFAULT 'v2',
    "webhookUrl" TEXT NOT NULL,
    "signing" "WebhookSigning" NOT NULL DEFAULT 'twilio',
    "secretCiphertext" BYTEA NOT NULL,
    "secretKeyId" TEXT NOT NULL,
    "dateCreated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dateUpdated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Webhook_pkey" PRIMARY KEY ("sid")
);

-- CreateTable
CREATE TABLE "WebhookDelivery" (
    "sid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "serviceSid" TEXT NOT NULL,
    "webhookSid" TEXT NOT NULL,
    "eventUuid" TEXT NOT NULL,
    "eventType" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "WebhookDeliveryStatus" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "generation" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "lastStatusCode" INTEGER,
    "nextAttemptAt" TIMESTAMP(3),
    "deliveredAt" TIMESTAMP(3),
    "dateCreated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dateUpdated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookDelivery_pkey" PRIMARY KEY ("sid")
);

-- CreateIndex
CREATE INDEX "Webhook_accountSid_idx" ON "Webhook"("accountSid");

-- CreateIndex
CREATE INDEX "Webhook_serviceSid_dateCreated_sid_idx" ON "Webhook"("serviceSid", "dateCreated", "sid");

-- CreateIndex
CREATE INDEX "Webhook_secretKeyId_idx" ON "Webhook"("secretKeyId");

-- CreateIndex
CREATE INDEX "WebhookDelivery_accountSid_idx" ON "WebhookDelivery"("accountSid");

-- CreateIndex
CREATE INDEX "WebhookDelivery_webhookSid_dateCreated_sid_idx" ON "WebhookDelivery"("webhookSid", "dateCreated", "sid");

-- CreateIndex
CREATE INDEX "WebhookDelivery_status_nextAttemptAt_idx" ON "WebhookDelivery"("status", "nextAttemptAt");

-- CreateIndex
CREATE UNIQUE INDEX "WebhookDelivery_webhookSid_eventUuid_key" ON "WebhookDelivery"("webhookSid", "eventUuid");

-- AddForeignKey
ALTER TABLE "Webhook" ADD CONSTRAINT "Webhook_accountSid_fkey" FOREIGN KEY ("accountSid") REFERENCES "Account"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Webhook" ADD CONSTRAINT "Webhook_serviceSid_fkey" FOREIGN KEY ("serviceSid") REFERENCES "Service"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebhookDelivery" ADD CONSTRAINT "WebhookDelivery_accountSid_fkey" FOREIGN KEY ("accountSid") REFERENCES "Account"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebhookDelivery" ADD CONSTRAINT "WebhookDelivery_webhookSid_fkey" FOREIGN KEY ("webhookSid") REFERENCES "Webhook"("sid") ON DELETE CASCADE ON UPDATE CASCADE;
