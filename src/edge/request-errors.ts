import type { GraphQLError } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';

/**
 * graphql-js reports a bad document or bad variables as GraphQLErrors without any code. Clients
 * branch on `extensions.code` (docs/api-contract.md "Errors"), so these get the conventional names (the ones
 * Apollo Server uses): a syntax error, a document the schema rejects, variables that do not fit
 * their declared types. Returns null for an error that is none of these.
 */
export function requestErrorCode(error: GraphQLError): 'GRAPHQL_PARSE_FAILED' | 'GRAPHQL_VALIDATION_FAILED' | 'BAD_USER_INPUT' | null {
  if (error.path) return null; // raised while executing a field: not a request error
  if (error.message.startsWith('Syntax Error')) return 'GRAPHQL_PARSE_FAILED';
  // graphql-js coerceVariableValues: `Variable "$x" got invalid value …`, `… was not provided.`, `… must not be null.`
  if (
    /^Variable "\$[^"]+" (got invalid value|of required type .* was not provided|of non-null type .* must not be null)/s.test(error.message)
  )
    return 'BAD_USER_INPUT';
  return 'GRAPHQL_VALIDATION_FAILED';
}

/** The same error with a stable code and a message that quotes no input value (the original when there is nothing to change). */
export function withRequestCode(error: GraphQLError): GraphQLError | null {
  const code = typeof error.extensions?.code === 'string' ? error.extensions.code : requestErrorCode(error);
  if (!code) return null;
  const message = withoutValues(error);
  if (message === error.message && code === error.extensions?.code) return error;
  return createGraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { ...error.extensions, code },
  });
}

// Inner coercion messages that name only types and fields, never the value sent (graphql-js coerceInputValue).
const VALUE_FREE = [
  /^Field "[^"]+" of required type "[^"]+" was not provided\.$/,
  /^Field "[^"]+" is not defined by type "[^"]+"\.( Did you mean [^:]*\?)?$/,
  /^Expected type "[^"]+" to be an object\.$/,
  /^Expected non-nullable type "[^"]+" not to be null\.$/,
];

/** A value-bearing coercion message without its value: what was expected. */
function expected(inner: string): string {
  // graphql-js's own scalars end their message with `: <value>`, e.g. `Int cannot represent non-integer value: 1.5`.
  const builtIn = /^((?:String|Int|Float|Boolean|ID) cannot represent [^:]*): /.exec(inner)?.[1];
  if (builtIn) return builtIn;
  const enumName = /^Enum "(\w+)" cannot represent/.exec(inner)?.[1] ?? /does not exist in "(\w+)" enum/.exec(inner)?.[1];
  if (enumName) return `expected a value of enum "${enumName}"`;
  const scalar = /^(\w+) cannot (?:represent|be represented)/.exec(inner)?.[1] ?? /^Expected type "(\w+)"/.exec(inner)?.[1];
  return scalar ? `expected type "${scalar}"` : 'the value does not fit the declared type';
}

/**
 * The message of a request error with every quoted input value taken out. graphql-js puts the
 * value sent into variable coercion errors (`got invalid value 12345678 at "i.authPayload"`, or the
 * whole input object with its seed when a sibling field is missing) and into literal validation
 * errors; echoed, that puts a code or a seed into client-side error reports and proxies' logs
 * (DESIGN.md "Secrets": never returned). Kept: the variable, the path in it and the expected type.
 */
export function withoutValues(error: GraphQLError): string {
  const m = error.message;
  const variable = /^Variable "\$([_A-Za-z]\w*)" got invalid value /.exec(m);
  if (variable) {
    const inner = error.originalError?.message;
    if (!inner || !m.endsWith(`; ${inner}`)) return `Variable "$${variable[1]}" got invalid value.`;
    // The head is `… got invalid value <value>[ at "<var><path>"]`; a quoted string value has its
    // quotes escaped, so only the real path can end the head in ` at "…"`.
    const head = m.slice(0, m.length - inner.length - 2);
    const at = new RegExp(` at "(${variable[1]}(?:\\.[_A-Za-z]\\w*|\\[\\d+\\])*)"$`).exec(head)?.[1];
    const why = VALUE_FREE.some((r) => r.test(inner)) ? inner : `${expected(inner)}.`;
    return `Variable "$${variable[1]}" got invalid value${at ? ` at "${at}"` : ''}; ${why}`;
  }
  // Literals in the document (ValuesOfCorrectTypeRule): `Expected value of type "String!", found 12345678.`
  const found = /^Expected value of type "([^"]+)", found /.exec(m);
  if (found) return `Expected value of type "${found[1]}".`;
  if (/^(\w+|Enum "\w+") cannot (?:represent|be represented)/.test(m) || /^Value ".*" does not exist in "\w+" enum/s.test(m)) {
    return `Invalid value: ${expected(m)}.`;
  }
  return m;
}

/**
 * Validation errors never pass through maskError (Yoga returns them as the result), so the
 * literal values they quote are taken out here, in the validate phase every transport shares.
 */
export function valuelessValidationErrors(): Plugin {
  return {
    onValidate:
      () =>
      ({ valid, result, setResult }) => {
        if (valid) return;
        let changed = false;
        const out = result.map((e) => {
          const message = withoutValues(e);
          if (message === e.message) return e;
          changed = true;
          return createGraphQLError(message, { nodes: e.nodes, source: e.source, positions: e.positions, extensions: e.extensions });
        });
        if (changed) setResult(out);
      },
  };
}
