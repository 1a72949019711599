import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured logs; anything that could hold a secret is redacted by path (DESIGN.md "Secrets"). */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'authorization',
        'req.headers.authorization',
        '*.authToken',
        '*.secret',
        '*.authPayload',
        '*.token',
        'authToken',
        'secret',
        'authPayload',
        'token',
      ],
      censor: '[redacted]',
    },
  });
}
