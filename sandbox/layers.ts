// The sandbox's layers, lowest first, and what each may import: a layer stands on the ones below it
// and knows nothing of its neighbours, so the internet's services, the networks and the machines
// can each change alone, and only what stands in for Azure (and the whole) puts them together.
export const SANDBOX_LAYERS = {
  base: [],
  internet: ["base"],
  networks: ["base"],
  machines: ["base"],
  azure: ["base", "internet", "networks", "machines"],
} as const satisfies Record<string, readonly string[]>;

export type SandboxLayer = keyof typeof SANDBOX_LAYERS;
