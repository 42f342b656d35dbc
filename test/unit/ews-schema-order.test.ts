import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { actionElements, predicateElements } from '../../simulators/ews/ews-rules.js';
import { ewsSchemaDir } from '../../simulators/ews/schema-validator.js';

/** Child element names of a complexType's sequence in types.xsd, in schema order. */
function sequenceOf(xsd: string, typeName: string): string[] {
  const start = xsd.indexOf(`<xs:complexType name="${typeName}">`);
  assert.ok(start >= 0, `${typeName} is in types.xsd`);
  const body = xsd.slice(start, xsd.indexOf('</xs:complexType>', start));
  return [...body.matchAll(/<xs:element name="(\w+)"/g)].map((m) => m[1]!);
}

describe("the EWS simulator's rule elements", () => {
  it('are exactly the children of RulePredicatesType and RuleActionsType, in schema order', async () => {
    const xsd = await readFile(path.join(ewsSchemaDir()!, 'types.xsd'), 'utf8');
    assert.deepEqual(predicateElements.map(([name]) => name), sequenceOf(xsd, 'RulePredicatesType'));
    assert.deepEqual(actionElements.map(([name]) => name), sequenceOf(xsd, 'RuleActionsType'));
  });
});
