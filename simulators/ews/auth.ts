import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { IdentitySimulator } from '../graph/identity.js';
import { challengeMessage, messageType, verifyAuthenticate, type NtlmServer } from './ntlm.js';
import type { EwsSimulatorStats } from './stats.js';

/**
 * How the EWS virtual directory authenticates, built from MS-NLMP (the NTLMv2 handshake, per
 * connection: type 1 → 401 with the type 2 challenge → type 3), RFC 7617 (Basic) and
 * exchange-facts.md ("Tokens": hybrid modern auth, a Bearer token whose `aud` is the server's URL).
 * Anything else → 401 with the offered challenges.
 */

export interface EwsAuthOptions {
  /** The service account: `DOMAIN\user` or a UPN, and its password. */
  account: { username: string; password: string };
  /** Which authentication the virtual directory offers. @default ['ntlm', 'basic'] */
  authentication?: Array<'ntlm' | 'basic' | 'bearer'>;
  ntlmServer?: NtlmServer;
}

export class EwsAuthentication {
  private readonly challenges = new WeakMap<Socket, Buffer>();

  constructor(
    private readonly options: EwsAuthOptions,
    private readonly stats: EwsSimulatorStats,
    private readonly identity: IdentitySimulator | undefined,
    private readonly origin: () => string,
  ) {}

  /** NTLM (per connection), Basic or Bearer; answers 401 itself and returns false when not authenticated. */
  authenticate(req: IncomingMessage, res: ServerResponse): boolean {
    const offered = this.options.authentication ?? (this.identity ? ['bearer'] : ['ntlm', 'basic']);
    const header = req.headers.authorization;
    const challenge = () => {
      const headers = [
        ...(offered.includes('ntlm') ? ['NTLM'] : []),
        ...(offered.includes('basic') ? ['Basic realm="mail.contoso.com"'] : []),
        ...(offered.includes('bearer') ? ['Bearer'] : []),
      ];
      res.writeHead(401, { 'www-authenticate': headers, 'content-length': '0' });
      res.end();
      return false;
    };
    if (offered.includes('ntlm') && header && /^NTLM /i.test(header)) {
      const type = messageType(header);
      if (type === 1) {
        const { header: type2, challenge: serverChallenge } = challengeMessage(
          this.options.ntlmServer ?? { domain: 'CONTOSO', computer: 'EXCH01', dnsDomain: 'contoso.local' },
        );
        this.challenges.set(req.socket, serverChallenge);
        res.writeHead(401, { 'www-authenticate': type2, 'content-length': '0' });
        res.end();
        return false;
      }
      const serverChallenge = this.challenges.get(req.socket);
      if (type !== 3 || !serverChallenge) return challenge();
      this.challenges.delete(req.socket);
      const identity = verifyAuthenticate(header, serverChallenge, (user, domain) =>
        this.matchesAccount(user, domain) ? this.options.account.password : undefined,
      );
      if (!identity) return challenge();
      this.stats.ntlmHandshakes++;
      return true;
    }
    if (offered.includes('basic') && header && /^Basic /i.test(header)) {
      const [user, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
      const [domain, name] = user!.includes('\\') ? user!.split('\\') : ['', user!];
      if (this.matchesAccount(name!, domain!) && rest.join(':') === this.options.account.password) return true;
      return challenge();
    }
    if (offered.includes('bearer') && this.identity && header && /^Bearer /i.test(header)) {
      return this.identity.verifyToken(header, this.origin()) === undefined || challenge();
    }
    return challenge();
  }

  private matchesAccount(user: string, domain: string): boolean {
    const configured = this.options.account.username.toLowerCase();
    const candidates = [user.toLowerCase(), `${domain.toLowerCase()}\\${user.toLowerCase()}`];
    return (
      candidates.includes(configured) ||
      configured.split('\\').pop() === user.toLowerCase() ||
      configured === `${user}`.toLowerCase()
    );
  }
}
