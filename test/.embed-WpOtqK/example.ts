import { homeAgentConfigFromDocument, startHomeAgent } from "/work/wt16-ha/runtime/index.js";

const { config, listen } = homeAgentConfigFromDocument({
  homeAgent: { address: '127.0.0.1', homeNetwork: '127.0.0.0/8', listen: ['127.0.0.1:0'] },
  mobileNodes: [{ homeAddress: '127.0.0.10', spi: 4096, key: '2b7e151628aed2a6abf7158809cf4f3c' }],
});
const ha = await startHomeAgent(config, { listen });
ha.agent.events.subscribe((event) => console.log(JSON.stringify(event)));
ha.agent.transitions.subscribe((t) => console.log(`${t.actor}: ${t.from} -> ${t.to} (${t.reason})`));
console.log(`home agent on UDP port ${ha.sockets[0]!.localPort}, ${ha.agent.bindingCount} bindings`);
await ha.stop();
