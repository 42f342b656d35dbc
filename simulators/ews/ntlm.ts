import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import md4 from 'js-md4';

/**
 * The server side of NTLM (MS-NLMP), as IIS runs it in front of Exchange: type 1 (negotiate) →
 * type 2 (challenge with target info) → type 3 (authenticate), bound to one TCP connection.
 * Only NTLMv2 responses are accepted, as current Windows servers require (LmCompatibilityLevel 5).
 */

const signature = Buffer.from('NTLMSSP\0', 'latin1');
const flags = {
  unicode: 0x00000001,
  requestTarget: 0x00000004,
  ntlm: 0x00000200,
  alwaysSign: 0x00008000,
  targetTypeDomain: 0x00010000,
  extendedSessionSecurity: 0x00080000,
  targetInfo: 0x00800000,
  version: 0x02000000,
  key128: 0x20000000,
  key56: 0x80000000,
};

export interface NtlmServer {
  /** NetBIOS domain name, e.g. CONTOSO. */
  domain: string;
  /** NetBIOS computer name, e.g. EXCH01. */
  computer: string;
  dnsDomain: string;
}

export function messageType(header: string | undefined): number | undefined {
  const token = /^NTLM (.+)$/i.exec(header ?? '')?.[1];
  if (!token) return undefined;
  const message = Buffer.from(token, 'base64');
  return message.subarray(0, 8).equals(signature) ? message.readUInt32LE(8) : undefined;
}

/** Type 2: the challenge, with the server's names and time as target info (AV pairs). */
export function challengeMessage(server: NtlmServer): { header: string; challenge: Buffer } {
  const challenge = randomBytes(8);
  const utf16 = (s: string) => Buffer.from(s, 'utf16le');
  const av = (id: number, value: Buffer) => Buffer.concat([u16(id), u16(value.length), value]);
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64LE((BigInt(Date.now()) + 11644473600000n) * 10000n);
  const targetInfo = Buffer.concat([
    av(2, utf16(server.domain)),
    av(1, utf16(server.computer)),
    av(4, utf16(server.dnsDomain)),
    av(3, utf16(`${server.computer.toLowerCase()}.${server.dnsDomain}`)),
    av(7, timestamp),
    av(0, Buffer.alloc(0)),
  ]);
  const targetName = utf16(server.domain);
  const headerLength = 56;
  const message = Buffer.concat([
    signature,
    u32(2),
    secBuf(targetName.length, headerLength),
    u32(
      flags.unicode |
        flags.requestTarget |
        flags.ntlm |
        flags.alwaysSign |
        flags.targetTypeDomain |
        flags.extendedSessionSecurity |
        flags.targetInfo |
        flags.version |
        flags.key128 |
        flags.key56,
    ),
    challenge,
    Buffer.alloc(8),
    secBuf(targetInfo.length, headerLength + targetName.length),
    Buffer.from([10, 0, 0x63, 0x45, 0, 0, 0, 15]), // version 10.0.17763, NTLM revision 15
    targetName,
    targetInfo,
  ]);
  return { header: `NTLM ${message.toString('base64')}`, challenge };
}

export interface NtlmIdentity {
  user: string;
  domain: string;
}

/**
 * Checks a type 3 message against the challenge and the account's password. Returns who
 * authenticated, or undefined when the proof does not match (wrong password, wrong user, NTLMv1).
 */
export function verifyAuthenticate(
  header: string,
  challenge: Buffer,
  passwordFor: (user: string, domain: string) => string | undefined,
): NtlmIdentity | undefined {
  const message = Buffer.from(/^NTLM (.+)$/i.exec(header)![1]!, 'base64');
  if (!message.subarray(0, 8).equals(signature) || message.readUInt32LE(8) !== 3) return undefined;
  const field = (offset: number) =>
    message.subarray(message.readUInt32LE(offset + 4), message.readUInt32LE(offset + 4) + message.readUInt16LE(offset));
  const unicode = (message.readUInt32LE(60) & flags.unicode) !== 0;
  const text = (buffer: Buffer) => buffer.toString(unicode ? 'utf16le' : 'latin1');
  const ntResponse = field(20);
  const domain = text(field(28));
  const user = text(field(36));
  const password = passwordFor(user, domain);
  if (password === undefined || ntResponse.length <= 24) return undefined; // 24 bytes = NTLMv1
  const ntHash = Buffer.from(md4.create().update(Buffer.from(password, 'utf16le')).arrayBuffer());
  const ntowfv2 = createHmac('md5', ntHash)
    .update(Buffer.from(user.toUpperCase() + domain, 'utf16le'))
    .digest();
  const proof = ntResponse.subarray(0, 16);
  const blob = ntResponse.subarray(16);
  const expected = createHmac('md5', ntowfv2)
    .update(Buffer.concat([challenge, blob]))
    .digest();
  return timingSafeEqual(proof, expected) ? { user, domain } : undefined;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function secBuf(length: number, offset: number): Buffer {
  return Buffer.concat([u16(length), u16(length), u32(offset)]);
}
