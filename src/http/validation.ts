import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Request validation. Bodies are strict: no type coercion, unknown fields rejected (Fastify's
 * default would silently strip them). Query strings and params arrive as text, so they coerce.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const options = {
    allErrors: false,
    removeAdditional: false,
    useDefaults: true,
    allowUnionTypes: true,
  } as const;
  const strict = new Ajv({ ...options, coerceTypes: false });
  const lenient = new Ajv({ ...options, coerceTypes: true });
  for (const ajv of [strict, lenient]) ajv.addKeyword('example');
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : lenient;
    return ajv.compile(schema as object) as ValidateFunction;
  };
}
