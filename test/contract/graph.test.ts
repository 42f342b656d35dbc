import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { sinkRuleName } from '../../simulators/scenarios.js';
import { contractSuite, type ContractWorld } from '../helpers/contract.js';
import { sink, startGraphWorld } from '../helpers/graph-world.js';
import { graphMailbox, graphRuleView } from '../helpers/graph-scenarios.js';

contractSuite('Microsoft Graph', async (mailboxes): Promise<ContractWorld> => {
  const world = await startGraphWorld(
    mailboxes.map(graphMailbox).filter((m): m is SimulatedMailbox => m !== undefined),
    { latencyInMs: 5 },
  );
  await world.writeUsers(`email\n${mailboxes.map((m) => m.email).join('\n')}\n`);
  return {
    sink,
    ruleName: sinkRuleName,
    secrets: [world.secret],
    dir: world.dir,
    run: world.run,
    report: world.report,
    rules: (email) => world.sim.rulesOf(email).map(graphRuleView),
    writes: () => world.sim.stats.writes,
    insideRetryAfterWindow: () => world.sim.stats.insideRetryAfterWindow,
    close: world.close,
  };
});
