import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';

/** Where the official schema is looked for, in order (named in skip reasons and the demo's banner). */
export const ewsSchemaLocations = 'SINKRULE_EWS_SCHEMA_DIR, or ../shared/ref/ews beside the clone';

/** The files of Microsoft's EWS schema plus the offline wrapper (shared/ref/ews/schema-support). */
const schemaFiles = [
  'messages.xsd',
  'types.xsd',
  'schema-support/ews-messages-wrapper.xsd',
  'schema-support/soap11-envelope-stub.xsd',
  'schema-support/xml-namespace-stub.xsd',
];

/**
 * Microsoft's EWS schema (messages.xsd, types.xsd) with the offline wrapper from shared/ref/ews.
 * It is not part of sinkrule: SINKRULE_EWS_SCHEMA_DIR (e.g. a copy of an Exchange server's
 * …\ClientAccess\exchweb\ews) or ../shared/ref/ews beside the clone; undefined when neither has it.
 */
export function ewsSchemaDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.SINKRULE_EWS_SCHEMA_DIR, path.join(packageRoot, '..', 'shared', 'ref', 'ews')].filter(
    (d): d is string => Boolean(d),
  );
  return candidates.find((dir) => schemaFiles.every((file) => existsSync(path.join(dir, file))));
}

/** Why schema checks are off, for skip reasons and messages. */
export const ewsSchemaMissing = `Microsoft's EWS schema was not found (${ewsSchemaLocations})`;

const soapEnvelope = (body: string) =>
  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ` +
  `xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" ` +
  `xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header><t:RequestServerVersion ` +
  `Version="Exchange2013_SP1"/><t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>a@contoso.com</` +
  `t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></s:Header><s:Body>${body}</s:Body></s:Envelope>`;
/** Valid and invalid messages of the shapes the simulator sees, to warm the validator up. */
const warmUpMessages = [
  soapEnvelope('<m:GetInboxRules><m:MailboxSmtpAddress>a@contoso.com</m:MailboxSmtpAddress></m:GetInboxRules>'),
  soapEnvelope(
    '<m:UpdateInboxRules><m:RemoveOutlookRuleBlob>false</m:RemoveOutlookRuleBlob><m:Operations>' +
      '<t:CreateRuleOperation><t:Rule><t:DisplayName>r</t:DisplayName><t:Priority>1</t:Priority><t:IsEnabled>' +
      'true</t:IsEnabled>' +
      '<t:Exceptions><t:FromAddresses><t:Address><t:EmailAddress>s@contoso.com</t:EmailAddress></t:Address></' +
      't:FromAddresses><t:IsNDR>true</t:IsNDR></t:Exceptions>' +
      '<t:Actions><t:ForwardAsAttachmentToRecipients><t:Address><t:Name>s</t:Name><t:EmailAddress>' +
      's@contoso.com</t:EmailAddress></t:Address></t:ForwardAsAttachmentToRecipients><t:StopProcessingRules>' +
      'false</t:StopProcessingRules></t:Actions></t:Rule></t:CreateRuleOperation>' +
      '<t:DeleteRuleOperation><t:RuleId>AQAAAA==</t:RuleId></t:DeleteRuleOperation></m:Operations></' +
      'm:UpdateInboxRules>',
  ),
  soapEnvelope(
    '<m:UpdateInboxRules><m:Operations><t:CreateRuleOperation><t:Rule><t:Mailbox/></t:Rule></' +
      't:CreateRuleOperation></m:Operations></m:UpdateInboxRules>',
  ),
  '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>',
];

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
    const buffers = Object.fromEntries(
      schemaFiles.map((file) => [path.join(schemaDir, file), readFileSync(path.join(schemaDir, file))]),
    );
    libxml.xmlRegisterInputProvider(new libxml.XmlBufferInputProvider(buffers));
    const wrapper = path.join(schemaDir, 'schema-support', 'ews-messages-wrapper.xsd');
    const schema = libxml.XmlDocument.fromBuffer(buffers[wrapper]!, { url: wrapper });
    let validator: EwsSchemaValidator;
    try {
      validator = new EwsSchemaValidator(libxml, libxml.XsdValidator.fromDoc(schema));
    } finally {
      schema.dispose();
    }
    // V8 compiles WebAssembly functions on their first call, on the main thread: the first few
    // validations take ~100 ms each. Pay that now, not while the simulator answers a client.
    for (const xml of warmUpMessages) validator.validate(xml);
    return validator;
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
      if (!details && !(error instanceof XmlValidateError) && !(error instanceof this.libxml.XmlParseError))
        throw error;
      return { ok: false, errors: (details ?? []).slice(0, 5).map((d) => `line ${d.line}: ${d.message.trim()}`) };
    } finally {
      doc?.dispose();
    }
  }

  stop(): void {
    this.validator.dispose();
  }
}
