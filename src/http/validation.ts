import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Request validation. Bodies are strict: no type coercion, unknown fields rejected (Fastify's
 * default would silently strip them). Query strings and params arrive as text, so they coerce.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = new Ajv({
    allErrors: false,
    coerceTypes: false,
    removeAdditional: false,
    useDefaults: true,
  });
  const lenient = new Ajv({
    allErrors: false,
    coerceTypes: true,
    removeAdditional: false,
    useDefaults: true,
  });
  for (const ajv of [strict, lenient]) ajv.addKeyword('example');
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : lenient;
    return ajv.compile(schema as object) as ValidateFunction;
  };
}
