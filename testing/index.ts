/**
 * `mip4/testing`: the model-based testing kit (docs/testing-kit.md). Test models of machines
 * (yours and mip4's six) with paths from `xstate/graph` and replays on mip4's engine; fast-check
 * arbitraries of each machine's events and of every wire message (valid, mutated, malformed);
 * a simulated-network harness (topology, agents, seeded scenarios, observables, pcaps); the
 * interop vectors. Nothing in mip4 imports it: it sits on top, for tests.
 */
export * from './model.js';
export * from './models.js';
// What a user needs of xstate and xstate/graph, so that they need not install xstate themselves;
// a machine built with these is built with the xstate mip4's engine compiles.
export { assign, setup, createMachine, type AnyStateMachine, type SnapshotFrom } from 'xstate';
export {
  adjacencyMapToArray,
  getAdjacencyMap,
  getPathsFromEvents,
  getShortestPaths,
  getSimplePaths,
  getStateNodes,
  joinPaths,
  serializeSnapshot,
  toDirectedGraph,
  type AdjacencyMap,
  type StatePath,
  type Step,
  type TraversalOptions,
} from 'xstate/graph';
export * from './wire-arbitraries.js';
export * from './machine-arbitraries.js';
export * from './vectors.js';
export * from './sim-harness.js';
