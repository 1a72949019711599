-- CreateEnum
CREATE TYPE "FactorStatus" AS ENUM ('unverified', 'verified');

-- CreateEnum
CREATE TYPE "FactorType" AS ENUM ('totp');

-- CreateEnum
CREATE TYPE "TotpAlgorithm" AS ENUM ('sha1', 'sha256', 'sha512');

-- CreateEnum
CREATE TYPE "ChallengeStatus" AS ENUM ('pending', 'approved', 'denied', 'expired');

-- CreateEnum
CREATE TYPE "ChallengeRespondedReason" AS ENUM ('none', 'not_needed', 'not_requested');

-- CreateTable
CREATE TABLE "Account" (
    "sid" TEXT NOT NULL,
    "friendlyName" TEXT NOT NULL,
    "authTokenHash" TEXT NOT NULL,
    "previousAuthTokenHash" TEXT,
    "previousTokenValidUntil" TIMESTAMP(3),
    "dateCreated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dateUpdated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Account_pkey" PRIMARY KEY ("sid")
);

-- CreateTable
CREATE TABLE "Service" (
    "sid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "friendlyName" TEXT NOT NULL,
    "totpIssuer" TEXT,
    "totpTimeStep" INTEGER,
    "totpCodeLength" INTEGER,
    "totpSkew" INTEGER,
    "dateCreated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dateUpdated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Service_pkey" PRIMARY KEY ("sid")
);

-- CreateTable
CREATE TABLE "Entity" (
    "sid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "serviceSid" TEXT NOT NULL,
    "identity" TEXT NOT NULL,
    "dateCreated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dateUpdated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Entity_pkey" PRIMARY KEY ("sid")
);

-- CreateTable
CREATE TABLE "Factor" (
    "sid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "serviceSid" TEXT NOT NULL,
    "entitySid" TEXT NOT NULL,
    "identity" TEXT NOT NULL,
    "friendlyName" TEXT NOT NULL,
    "status" "FactorStatus" NOT NULL DEFAULT 'unverified',
    "factorType" "FactorType" NOT NULL DEFAULT 'totp',
    "alg" "TotpAlgorithm" NOT NULL DEFAULT 'sha1',
    "skew" INTEGER NOT NULL DEFAULT 1,
    "codeLength" INTEGER NOT NULL DEFAULT 6,
    "timeStep" INTEGER NOT NULL DEFAULT 30,
    "metadata" JSONB,
    "secretCiphertext" BYTEA NOT NULL,
    "secretKeyId" TEXT NOT NULL,
    "secretFingerprint" TEXT NOT NULL,
    "lastUsedTimeStep" BIGINT,
    "verifyAttempts" INTEGER NOT NULL DEFAULT 0,
    "dateCreated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dateUpdated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Factor_pkey" PRIMARY KEY ("sid")
);

-- CreateTable
CREATE TABLE "Challenge" (
    "sid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "serviceSid" TEXT NOT NULL,
    "entitySid" TEXT NOT NULL,
    "identity" TEXT NOT NULL,
    "factorSid" TEXT NOT NULL,
    "status" "ChallengeStatus" NOT NULL DEFAULT 'pending',
    "respondedReason" "ChallengeRespondedReason" NOT NULL DEFAULT 'none',
    "detailsMessage" TEXT,
    "detailsFields" JSONB,
    "hiddenDetails" JSONB,
    "metadata" JSONB,
    "expirationDate" TIMESTAMP(3) NOT NULL,
    "dateResponded" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "dateCreated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dateUpdated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Challenge_pkey" PRIMARY KEY ("sid")
);

-- CreateIndex
CREATE UNIQUE INDEX "Account_authTokenHash_key" ON "Account"("authTokenHash");

-- CreateIndex
CREATE UNIQUE INDEX "Account_previousAuthTokenHash_key" ON "Account"("previousAuthTokenHash");

-- CreateIndex
CREATE INDEX "Service_accountSid_dateCreated_sid_idx" ON "Service"("accountSid", "dateCreated", "sid");

-- CreateIndex
CREATE INDEX "Entity_accountSid_idx" ON "Entity"("accountSid");

-- CreateIndex
CREATE INDEX "Entity_serviceSid_dateCreated_sid_idx" ON "Entity"("serviceSid", "dateCreated", "sid");

-- CreateIndex
CREATE UNIQUE INDEX "Entity_serviceSid_identity_key" ON "Entity"("serviceSid", "identity");

-- CreateIndex
CREATE INDEX "Factor_accountSid_idx" ON "Factor"("accountSid");

-- CreateIndex
CREATE INDEX "Factor_serviceSid_idx" ON "Factor"("serviceSid");

-- CreateIndex
CREATE INDEX "Factor_entitySid_dateCreated_sid_idx" ON "Factor"("entitySid", "dateCreated", "sid");

-- CreateIndex
CREATE INDEX "Factor_secretKeyId_idx" ON "Factor"("secretKeyId");

-- CreateIndex
CREATE UNIQUE INDEX "Factor_entitySid_secretFingerprint_key" ON "Factor"("entitySid", "secretFingerprint");

-- CreateIndex
CREATE INDEX "Challenge_accountSid_idx" ON "Challenge"("accountSid");

-- CreateIndex
CREATE INDEX "Challenge_serviceSid_idx" ON "Challenge"("serviceSid");

-- CreateIndex
CREATE INDEX "Challenge_entitySid_dateCreated_sid_idx" ON "Challenge"("entitySid", "dateCreated", "sid");

-- CreateIndex
CREATE INDEX "Challenge_factorSid_idx" ON "Challenge"("factorSid");

-- CreateIndex
CREATE INDEX "Challenge_status_expirationDate_idx" ON "Challenge"("status", "expirationDate");

-- AddForeignKey
ALTER TABLE "Service" ADD CONSTRAINT "Service_accountSid_fkey" FOREIGN KEY ("accountSid") REFERENCES "Account"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Entity" ADD CONSTRAINT "Entity_accountSid_fkey" FOREIGN KEY ("accountSid") REFERENCES "Account"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Entity" ADD CONSTRAINT "Entity_serviceSid_fkey" FOREIGN KEY ("serviceSid") REFERENCES "Service"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Factor" ADD CONSTRAINT "Factor_accountSid_fkey" FOREIGN KEY ("accountSid") REFERENCES "Account"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Factor" ADD CONSTRAINT "Factor_serviceSid_fkey" FOREIGN KEY ("serviceSid") REFERENCES "Service"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Factor" ADD CONSTRAINT "Factor_entitySid_fkey" FOREIGN KEY ("entitySid") REFERENCES "Entity"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Challenge" ADD CONSTRAINT "Challenge_accountSid_fkey" FOREIGN KEY ("accountSid") REFERENCES "Account"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Challenge" ADD CONSTRAINT "Challenge_serviceSid_fkey" FOREIGN KEY ("serviceSid") REFERENCES "Service"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Challenge" ADD CONSTRAINT "Challenge_entitySid_fkey" FOREIGN KEY ("entitySid") REFERENCES "Entity"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Challenge" ADD CONSTRAINT "Challenge_factorSid_fkey" FOREIGN KEY ("factorSid") REFERENCES "Factor"("sid") ON DELETE CASCADE ON UPDATE CASCADE;
