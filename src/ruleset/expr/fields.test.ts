import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createFieldReader, fieldReader } from './fields.js';
import { field } from './values.js';

const NAMES = ['a', 'b', 'clv', 'toString', 'valueOf', 'hasOwnProperty', 'length', 'in', '_x1', 'polluted'];

const objects = fc.oneof(
  fc.dictionary(fc.constantFrom(...NAMES, '__proto__'), fc.anything(), { maxKeys: 5 }),
  fc.array(fc.tuple(fc.constantFrom(...NAMES, '__proto__'), fc.anything())).map((e) => Object.fromEntries(e)),
  fc.anything({
    key: fc.constantFrom(...NAMES),
    withNullPrototype: true,
    withMap: true,
    withBoxedValues: true,
  }),
  fc.constantFrom<unknown>(
    JSON.parse('{"__proto__": {"a": 1}, "b": 2}'),
    Object.create({ a: 1 }),
    Object.assign(Object.create(null) as object, { a: 1, toString: 'own' }),
    [1, 2],
    'str',
    () => 1,
  ),
);

describe('field readers', () => {
  it('generated and closure readers agree with field() on any value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...NAMES), objects, (name, o) => {
        const expected = field(o, name);
        expect(Object.is(createFieldReader(name, true)(o), expected)).toBe(true);
        expect(Object.is(createFieldReader(name, false)(o), expected)).toBe(true);
        expect(Object.is(fieldReader(name)(o), expected)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('read own properties of plain objects only', () => {
    for (const generate of [true, false]) {
      const read = (name: string) => createFieldReader(name, generate);
      expect(read('a')({ a: 1 })).toBe(1);
      expect(read('a')(Object.assign(Object.create(null) as object, { a: 2 }))).toBe(2);
      expect(read('toString')({})).toBeUndefined();
      expect(read('toString')({ toString: 'own' })).toBe('own');
      expect(read('a')(Object.create({ a: 1 }))).toBeUndefined();
      expect(read('length')([1])).toBeUndefined();
      expect(read('a')(JSON.parse('{"__proto__": {"a": 1}}'))).toBeUndefined();
      expect(read('a')(null)).toBeUndefined();
      expect(read('a')('a')).toBeUndefined();
    }
  });

  it('do not see keys added to Object.prototype after they were made', () => {
    const readers = [createFieldReader('polluted', true), createFieldReader('polluted', false)];
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 'yes';
    try {
      for (const read of readers) {
        expect(read({})).toBeUndefined();
        expect(read({ polluted: 'own' })).toBe('own');
      }
    } finally {
      delete proto.polluted;
    }
  });

  it('generate code only for identifiers that are not forbidden', () => {
    expect(createFieldReader('clv', true).name).toBe('readField');
    for (const name of [
      '__proto__',
      'constructor',
      'prototype',
      'a-b',
      'a"]; x',
      '1a',
      '',
      'x'.repeat(200),
    ]) {
      const read = createFieldReader(name, true);
      expect(read.name).not.toBe('readField');
      const o = { [name]: 1 };
      expect(read(o)).toBe(field(o, name));
    }
  });

  it('share one reader per field name', () => {
    expect(fieldReader('clv')).toBe(fieldReader('clv'));
  });
});
