import type { EwsSimulatedMailbox } from '../../simulators/ews/ews-simulator.js';
import { sinkRuleName } from '../../simulators/scenarios.js';
import { contractSuite, type ContractWorld } from '../helpers/contract.js';
import { startEwsWorld } from '../helpers/ews-world.js';
import { sink } from '../helpers/graph-world.js';
import { ewsMailbox, ewsRuleView } from '../helpers/ews-scenarios.js';

contractSuite('Exchange Web Services (on-premises)', async (mailboxes): Promise<ContractWorld> => {
  const seeded = mailboxes.map(ewsMailbox).filter((m): m is EwsSimulatedMailbox => m !== undefined);
  const world = await startEwsWorld(
    seeded,
    { latencyInMs: 5 },
    mailboxes.map((m) => m.email),
  );
  return {
    sink,
    ruleName: sinkRuleName,
    secrets: [world.password],
    dir: world.dir,
    run: world.run,
    report: world.report,
    rules: (email) => world.sim.rulesOf(email).map(ewsRuleView),
    writes: () => world.sim.stats.writes,
    insideRetryAfterWindow: () => world.sim.stats.insideBackOffWindow,
    close: async () => {
      if (world.sim.stats.schemaInvalid > 0)
        throw new Error(`EWS requests failed schema validation: ${world.sim.stats.schemaErrors.join('; ')}`);
      if (world.sim.stats.withoutAnchorMailbox > 0)
        throw new Error('impersonated EWS requests without X-AnchorMailbox');
      await world.close();
    },
  };
});
