-- DropIndex
DROP INDEX "Challenge_status_expirationDate_idx";

-- CreateIndex
CREATE INDEX "Challenge_pending_expirationDate_idx" ON "Challenge"("expirationDate") WHERE (status = 'pending');
