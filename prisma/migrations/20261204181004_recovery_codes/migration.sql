-- CreateTable
CREATE TABLE "RecoveryCode" (
    "entitySid" TEXT NOT NULL,
    "codeHash" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "dateCreated" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RecoveryCode_pkey" PRIMARY KEY ("entitySid","codeHash")
);

-- CreateTable
CREATE TABLE "RecoveryCodeState" (
    "entitySid" TEXT NOT NULL,
    "accountSid" TEXT NOT NULL,
    "failureStreak" INTEGER NOT NULL DEFAULT 0,
    "throttledUntil" TIMESTAMP(3),
    "dateGenerated" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RecoveryCodeState_pkey" PRIMARY KEY ("entitySid")
);

-- CreateIndex
CREATE INDEX "RecoveryCode_accountSid_idx" ON "RecoveryCode"("accountSid");

-- CreateIndex
CREATE INDEX "RecoveryCodeState_accountSid_idx" ON "RecoveryCodeState"("accountSid");

-- AddForeignKey
ALTER TABLE "RecoveryCode" ADD CONSTRAINT "RecoveryCode_entitySid_fkey" FOREIGN KEY ("entitySid") REFERENCES "Entity"("sid") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RecoveryCodeState" ADD CONSTRAINT "RecoveryCodeState_entitySid_fkey" FOREIGN KEY ("entitySid") REFERENCES "Entity"("sid") ON DELETE CASCADE ON UPDATE CASCADE;
