-- AlterTable
ALTER TABLE "Factor" ADD COLUMN     "failureStreak" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "throttledUntil" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "SystemKey" (
    "name" TEXT NOT NULL,
    "ciphertext" BYTEA NOT NULL,
    "keyId" TEXT NOT NULL,
    "dateCreated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "dateUpdated" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SystemKey_pkey" PRIMARY KEY ("name")
);
