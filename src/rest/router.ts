/**
 * A tiny path router for the REST facade: literal segments and `:name` parameters, exact
 * (case-sensitive, as Twilio's paths are) matching, and the 404/405 distinction Twilio makes.
 */

import { isStorableText } from '../domain/validation.ts';

export type Params = Record<string, string>;

export type Match<H> =
  | { kind: 'found'; handler: H; params: Params; /** As registered, e.g. `/v2/Services/:sid`: a bounded metrics label. */ pattern: string }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

interface Route<H> {
  method: string;
  pattern: string;
  segments: string[];
  handler: H;
}

export class Router<H> {
  readonly #routes: Route<H>[] = [];

  add(method: string, pattern: string, handler: H): this {
    this.#routes.push({ method: method.toUpperCase(), pattern, segments: split(pattern), handler });
    return this;
  }

  match(method: string, pathname: string): Match<H> {
    const path = split(pathname);
    const allow: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, path);
      if (!params) continue;
      if (route.method === method.toUpperCase()) return { kind: 'found', handler: route.handler, params, pattern: route.pattern };
      allow.push(route.method);
    }
    return allow.length ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
  }
}

const split = (path: string) => path.split('/').filter((s) => s !== '');

function matchSegments(pattern: string[], path: string[]): Params | null {
  if (pattern.length !== path.length) return null;
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = path[i]!;
    if (p.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(s);
      } catch {
        return null; // malformed percent-encoding: no resource has that name
      }
      // Nor has text PostgreSQL cannot store (`%00`): comparing it in SQL would fail, not miss.
      if (!isStorableText(value)) return null;
      params[p.slice(1)] = value;
    } else if (p !== s) {
      return null;
    }
  }
  return params;
}
