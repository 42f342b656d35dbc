import { escapeXml, ns } from './ews-rules.js';

/**
 * EWS's SOAP answers, built from Microsoft's EWS schema and samples in shared/ref/ews
 * (messages.xsd `ResponseMessageType`, the `ServerVersionInfo` header of the documented responses,
 * `SoapFault.ErrorServerBusy.BackOffMilliseconds.exchangelib-test.xml` and the RECONSTRUCTED fault
 * samples): operation responses extend ResponseMessageType directly, faults carry the ResponseCode
 * and, for ErrorServerBusy, `MessageXml/Value[@Name="BackOffMilliseconds"]`.
 */

export type Fault = { code: string; message: string; backOffInMs?: number; status?: number };

export interface SoapReply {
  status: number;
  code: string;
  xml: string;
}

function envelope(body: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${ns.soap}"><s:Header>` +
    `<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4" ` +
    `Version="V2017_07_11" xmlns:h="${ns.types}" xmlns="${ns.types}" ` +
    `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>` +
    `</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
    `xmlns:xsd="http://www.w3.org/2001/XMLSchema">${body}</s:Body></s:Envelope>`
  );
}

/**
 * An operation's response (ResponseMessageType: MessageText, ResponseCode, DescriptiveLinkKey, then the operation's
 * own elements).
 */
export function response(operation: string, error?: Fault, extra = ''): SoapReply {
  const head = error
    ? `<m:MessageText>${escapeXml(error.message)}</m:MessageText><m:ResponseCode>${error.code}</m:ResponseCode>` +
      `<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>`
    : '<m:ResponseCode>NoError</m:ResponseCode>';
  const xml = envelope(
    `<m:${operation}Response ResponseClass="${error ? 'Error' : 'Success'}" xmlns:m="${ns.messages}" ` +
      `xmlns:t="${ns.types}">${head}${extra}</m:${operation}Response>`,
  );
  return { status: 200, code: error?.code ?? 'NoError', xml };
}

/** A SOAP fault as Exchange sends them, with HTTP 500. */
export function fault(error: Fault): SoapReply {
  const backOff =
    error.backOffInMs === undefined
      ? ''
      : `<t:MessageXml xmlns:t="${ns.types}"><t:Value ` +
        `Name="BackOffMilliseconds">${error.backOffInMs}</t:Value></t:MessageXml>`;
  const xml = envelope(
    `<s:Fault><faultcode xmlns:a="${ns.types}">a:${error.code}</faultcode><faultstring ` +
      `xml:lang="en-US">${escapeXml(error.message)}</faultstring>` +
      `<detail><e:ResponseCode xmlns:e="${ns.errors}">${error.code}</e:ResponseCode><e:Message ` +
      `xmlns:e="${ns.errors}">${escapeXml(error.message)}</e:Message>${backOff}</detail></s:Fault>`,
  );
  return { status: error.status ?? 500, code: error.code, xml };
}
