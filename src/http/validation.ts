import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Request validation. Bodies are strict: no type coercion, unknown fields rejected (Fastify's
 * default would silently strip them). Query strings and params arrive as text, so they coerce.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = projectAjv({ coerceTypes: false });
  const lenient = projectAjv({ coerceTypes: true });
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : lenient;
    return ajv.compile(schema as object) as ValidateFunction;
  };
}

/**
 * An Ajv as the routes use it: unknown fields rejected, defaults applied, the OpenAPI `example`
 * keyword known. Other JSON the server validates (WebSocket messages) uses it too.
 */
export function projectAjv(options: { readonly coerceTypes: boolean }): Ajv {
  const ajv = new Ajv({
    allErrors: false,
    removeAdditional: false,
    useDefaults: true,
    allowUnionTypes: true,
    coerceTypes: options.coerceTypes,
  });
  ajv.addKeyword('example');
  return ajv;
}
