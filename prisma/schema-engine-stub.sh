#!/bin/sh
# Prisma CLI stub: generate/validate only need the path to exist (STACK-NOTES §2)
exit 1
