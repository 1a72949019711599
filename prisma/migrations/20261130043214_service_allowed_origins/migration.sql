-- AlterTable
ALTER TABLE "Service" ADD COLUMN     "allowedOrigins" TEXT[] DEFAULT ARRAY[]::TEXT[];
