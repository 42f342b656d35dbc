import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface LocalCertificate {
  cert: string;
  key: string;
  /** PEM file to hand to a client process as NODE_EXTRA_CA_CERTS. */
  caFile: string;
  dir: string;
}

/**
 * A certificate made for this run only, valid for localhost and 127.0.0.1. Clients trust it
 * through NODE_EXTRA_CA_CERTS (read at process start), never by turning verification off.
 */
export async function createLocalCertificate(dir?: string): Promise<LocalCertificate> {
  const folder = dir ?? (await mkdtemp(path.join(tmpdir(), 'sinkrule-tls-')));
  const pems = await generate([{ name: 'commonName', value: 'sinkrule local simulator' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  const caFile = path.join(folder, 'simulator-ca.pem');
  await writeFile(caFile, pems.cert);
  return { cert: pems.cert, key: pems.private, caFile, dir: folder };
}
