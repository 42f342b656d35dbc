import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';

/** Where the official schema is looked for, in order (named in skip reasons and the demo's banner). */
export const ewsSchemaLocations = 'SINKRULE_EWS_SCHEMA_DIR, or ../shared/ref/ews beside the clone';

/** The files of Microsoft's EWS schema plus the offline wrapper (shared/ref/ews/schema-support). */
const schemaFiles = ['messages.xsd', 'types.xsd', 'schema-support/ews-messages-wrapper.xsd', 'schema-support/soap11-envelope-stub.xsd', 'schema-support/xml-namespace-stub.xsd'];

/**
 * Microsoft's EWS schema (messages.xsd, types.xsd) with the offline wrapper from shared/ref/ews.
 * It is not part of sinkrule: SINKRULE_EWS_SCHEMA_DIR (e.g. a copy of an Exchange server's
 * …\ClientAccess\exchweb\ews) or ../shared/ref/ews beside the clone; undefined when neither has it.
 */
export function ewsSchemaDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.SINKRULE_EWS_SCHEMA_DIR, path.join(packageRoot, '..', 'shared', 'ref', 'ews')].filter((d): d is string => Boolean(d));
  return candidates.find((dir) => schemaFiles.every((file) => existsSync(path.join(dir, file))));
}

/** Why schema checks are off, for skip reasons and messages. */
export const ewsSchemaMissing = `Microsoft's EWS schema was not found (${ewsSchemaLocations})`;

export interface ValidationResult {
  ok: boolean;
  errors: string[];
}

/**
 * Validates EWS SOAP messages against Microsoft's schema with libxml2 (the same library xmllint
 * uses, compiled to WebAssembly: no native package, no child process). The schema is compiled once
 * (~0.3 s); a message then takes well under a millisecond. Only the schema files are readable by
 * the parser, and never through the network: a request cannot make the simulator load anything.
 */
export class EwsSchemaValidator {
  private constructor(
    private readonly libxml: typeof import('libxml2-wasm'),
    private readonly validator: import('libxml2-wasm').XsdValidator,
  ) {}

  static async start(schemaDir: string): Promise<EwsSchemaValidator> {
    const libxml = await import('libxml2-wasm'); // loaded only by the simulators that validate
    const buffers = Object.fromEntries(schemaFiles.map((file) => [path.join(schemaDir, file), readFileSync(path.join(schemaDir, file))]));
    libxml.xmlRegisterInputProvider(new libxml.XmlBufferInputProvider(buffers));
    const wrapper = path.join(schemaDir, 'schema-support', 'ews-messages-wrapper.xsd');
    const schema = libxml.XmlDocument.fromBuffer(buffers[wrapper]!, { url: wrapper });
    try {
      return new EwsSchemaValidator(libxml, libxml.XsdValidator.fromDoc(schema));
    } finally {
      schema.dispose();
    }
  }

  validate(xml: string): ValidationResult {
    const { XmlDocument, ParseOption, XmlValidateError } = this.libxml;
    let doc: import('libxml2-wasm').XmlDocument | undefined;
    try {
      doc = XmlDocument.fromString(xml, { option: ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE });
      this.validator.validate(doc);
      return { ok: true, errors: [] };
    } catch (error) {
      const details = (error as { details?: Array<{ line: number; message: string }> }).details;
      if (!details && !(error instanceof XmlValidateError) && !(error instanceof this.libxml.XmlParseError)) throw error;
      return { ok: false, errors: (details ?? []).slice(0, 5).map((d) => `line ${d.line}: ${d.message.trim()}`) };
    } finally {
      doc?.dispose();
    }
  }

  stop(): void {
    this.validator.dispose();
  }
}
