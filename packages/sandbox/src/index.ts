export {
  cefrForBand,
  halfBandTotal,
  prng,
  SandboxData,
  type SandboxDataOptions,
  type SandboxRecord,
} from './data.js';
export { type Fault, FaultQueue, type FaultSpec, parseFaults } from './faults.js';
export { type HiddenLayout, type HiddenLayoutOptions, hiddenLayout } from './hidden.js';
export {
  EXPIRED_KEY,
  newSandboxKey,
  PENDING_ACCOUNT_KEY,
  SANDBOX_LAYOUT_URL,
  type Sandbox,
  type SandboxOptions,
  type SandboxRequest,
  sandboxLayout1600,
  startSandbox,
  UNAUTHENTICATED_KEY,
} from './server.js';
