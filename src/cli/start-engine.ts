/**
 * How the CLI's commands start the engine: with the winners `hemgpu tune` stored for this
 * adapter, if any (nothing is timed here), saying so in one line.
 */
import { appliedTuning, init } from '../index.node.ts';

export async function startEngine(): Promise<void> {
  await init({ tune: true });
  const t = appliedTuning();
  if (t) console.log(`hemgpu: kernels tuned for this adapter (${t.where}, ${t.record.date.slice(0, 10)}; hemgpu tune --show lists them)`);
}
