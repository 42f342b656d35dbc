import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import type forgeModule from 'node-forge';
import { InputError } from '../core/errors.js';

/** The environment variable holding a PFX file's password; never a config key, never logged. */
export const certificatePasswordVariable = 'SINKRULE_CERTIFICATE_PASSWORD';

/**
 * Reads the app's certificate as the PEM text @azure/identity takes: a PEM file as it is, a
 * PFX/PKCS#12 file (what Windows exports, password in SINKRULE_CERTIFICATE_PASSWORD) converted
 * in memory, since Node's crypto cannot read PKCS#12. Checked here, so a wrong file or password
 * stops the run before any request with the fix, not as an opaque signing error later.
 */
export function loadCertificate(file: string, key: string, env: NodeJS.ProcessEnv): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new InputError(
      [
        `${key}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? error}): check the path ` +
          `(relative to the config file)`,
      ],
      { cause: error },
    );
  }
  const pem = bytes.includes('-----BEGIN')
    ? bytes.toString('utf8')
    : pfxToPem(bytes, file, key, env[certificatePasswordVariable]);
  checkPem(pem, file, key);
  return pem;
}

/**
 * node-forge (about 40 files) is loaded only to read a PFX file, not by every run: each run's
 * start is part of a verify's time. It is CommonJS, so a synchronous require keeps this check
 * at the edge, before any work.
 */
const forgeLibrary = (): typeof forgeModule => createRequire(import.meta.url)('node-forge') as typeof forgeModule;

function pfxToPem(bytes: Buffer, file: string, key: string, password: string | undefined): string {
  const forge = forgeLibrary();
  let p12: forgeModule.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(bytes.toString('binary')), password ?? '');
  } catch (error) {
    const message = (error as Error).message ?? '';
    const fix = /MAC could not be verified|Invalid password/i.test(message)
      ? password === undefined
        ? `the file is password-protected: set the environment variable ${certificatePasswordVariable} to its password`
        : `the password in ${certificatePasswordVariable} is wrong for this file`
      : 'it is neither PEM nor a PFX/PKCS#12 file: export the certificate with its private key as .pfx, or as PEM';
    throw new InputError([`${key}: ${file}: cannot open the certificate: ${fix}`], { cause: error });
  }
  const keyBags = [forge.pki.oids.pkcs8ShroudedKeyBag!, forge.pki.oids.keyBag!].flatMap(
    (type) => p12.getBags({ bagType: type })[type] ?? [],
  );
  const certBags = p12.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
  const privateKey = keyBags.find((bag) => bag.key)?.key;
  if (!privateKey)
    throw new InputError([
      `${key}: ${file}: the PFX holds no private key: export it again with "Yes, export the private key"`,
    ]);
  const certificates = certBags.flatMap((bag) => (bag.cert ? [forge.pki.certificateToPem(bag.cert)] : []));
  return [forge.pki.privateKeyToPem(privateKey as forgeModule.pki.rsa.PrivateKey), ...certificates].join('\n');
}

function checkPem(pem: string, file: string, key: string): void {
  const problems: string[] = [];
  try {
    createPrivateKey(pem);
  } catch {
    problems.push('no readable private key (an unencrypted "PRIVATE KEY" block)');
  }
  try {
    new X509Certificate(pem);
  } catch {
    problems.push('no certificate ("CERTIFICATE" block)');
  }
  if (problems.length)
    throw new InputError([
      `${key}: ${file}: ${problems.join(' and ')}: the file must hold the app's certificate and its private ` +
        `key (PEM, or PFX with ${certificatePasswordVariable})`,
    ]);
}
