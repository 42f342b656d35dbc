import { dataverseTokens } from '../auth/graph-credential.js';
import type { Config, DataverseConfig } from '../input/config.js';
import type { CliIO } from '../common/io.js';

/**
 * What a command hands anything that reads Dynamics 365 (a mailbox source, a Dataverse reader):
 * the config, Dataverse's tokens for its section, the clock and the run's signal.
 */
export function dataverseAccess(config: Config, io: CliIO) {
  return {
    config,
    dataverseTokens: (dataverse: DataverseConfig) => dataverseTokens(dataverse, io.env, config.file, io.clock),
    clock: io.clock,
    sleep: io.sleep,
    signal: io.signal,
  };
}
