import { describeError } from '../core/errors.js';
import type { Config } from '../input/config.js';
import type { ProviderSet } from '../providers/index.js';
import type { InternalDomains } from '../report/inventory.js';
import type { CliIO } from '../common/io.js';

/**
 * The domains whose addresses count as internal: the directory's verified domains (Graph
 * `GET /domains`, permission Domain.Read.All) plus config `internalDomains`. When the directory
 * cannot be read, the config alone, and the operator is told.
 */
export async function internalDomainsFor(providers: ProviderSet, config: Config, io: CliIO): Promise<InternalDomains> {
  const fromConfig = config.internalDomains.map((d) => d.toLowerCase());
  for (const provider of providers.providers.values()) {
    if (provider.kind !== 'api' || !provider.verifiedDomains) continue;
    try {
      const verified = await provider.verifiedDomains(io.signal);
      return {
        domains: [...new Set([...verified, ...fromConfig])].sort(),
        source:
          `verified domains of the directory ` +
          `(${provider.target})${fromConfig.length ? ' and config internalDomains' : ''}`,
      };
    } catch (error) {
      io.stderr.write(
        `Warning: cannot read the directory's verified domains (${describeError(error)}); grant the app ` +
          'Domain.Read.All for them. ' +
          (fromConfig.length
            ? 'Using config internalDomains instead.'
            : 'No config internalDomains either: every target is marked "unknown".') +
          '\n',
      );
      return {
        domains: fromConfig,
        source: `config internalDomains (the directory's domains could not be read: ${describeError(error)})`,
      };
    }
  }
  return {
    domains: fromConfig,
    source: fromConfig.length ? 'config internalDomains' : 'none: set internalDomains in the config',
  };
}
