import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { actionElements, predicateElements } from '../../simulators/ews/ews-rules.js';
import { EwsSchemaValidator, ewsSchemaDir, ewsSchemaMissing } from '../../simulators/ews/schema-validator.js';

/** Microsoft's schema is not part of sinkrule: these tests run where it is found (CI), else are skipped. */
const schemaDir = ewsSchemaDir();
const skip = schemaDir ? false : ewsSchemaMissing;

/** Child element names of a complexType's sequence in types.xsd, in schema order. */
function sequenceOf(xsd: string, typeName: string): string[] {
  const start = xsd.indexOf(`<xs:complexType name="${typeName}">`);
  assert.ok(start >= 0, `${typeName} is in types.xsd`);
  const body = xsd.slice(start, xsd.indexOf('</xs:complexType>', start));
  return [...body.matchAll(/<xs:element name="(\w+)"/g)].map((m) => m[1]!);
}

describe("the EWS simulator's rule elements", () => {
  it('are exactly the children of RulePredicatesType and RuleActionsType, in schema order', { skip }, async () => {
    const xsd = await readFile(path.join(schemaDir!, 'types.xsd'), 'utf8');
    assert.deepEqual(
      predicateElements.map(([name]) => name),
      sequenceOf(xsd, 'RulePredicatesType'),
    );
    assert.deepEqual(
      actionElements.map(([name]) => name),
      sequenceOf(xsd, 'RuleActionsType'),
    );
  });
});

describe("the EWS simulator's schema check (libxml2 in WebAssembly)", () => {
  it(
    "accepts Microsoft's documented requests and answers, rejects a wrong child and malformed XML",
    { skip },
    async () => {
      const validator = await EwsSchemaValidator.start(schemaDir!);
      try {
        for (const folder of ['requests', 'samples']) {
          for (const name of (await readdir(path.join(schemaDir!, folder))).filter((n) => n.endsWith('.xml'))) {
            const result = validator.validate(await readFile(path.join(schemaDir!, folder, name), 'utf8'));
            // The two msdocs-2013 samples are verbatim with the wrong SOAP namespace (https): the README says they
            // fail.
            assert.equal(result.ok, !name.includes('msdocs-2013'), `${folder}/${name}: ${result.errors.join('; ')}`);
          }
        }
        const wrongChild = validator.validate(
          await readFile(
            path.join(schemaDir!, 'requests/invalid/UpdateInboxRules.ForwardAsAttachment.wrong-child.request.xml'),
            'utf8',
          ),
        );
        assert.equal(wrongChild.ok, false);
        assert.match(wrongChild.errors[0]!, /Mailbox': This element is not expected\. Expected is .*Address/);
        const malformed = validator.validate(
          '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>',
        );
        assert.equal(malformed.ok, false);
        assert.ok(malformed.errors.length > 0, 'a parse error is reported with its line');
      } finally {
        validator.stop();
      }
    },
  );
});
