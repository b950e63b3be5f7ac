/**
 * Learning-rate schedules. polyLr is the paper's (and EMANet's / DeepLab's) "poly" policy:
 * lr = base · (1 − step/total)^power, power 0.9.
 */
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** lr = base · (1 − step / totalSteps)^power, for 0 ≤ step ≤ totalSteps (0 at the end). */
export function polyLr(base: number, step: number, totalSteps: number, power = 0.9): number {
  if (typeof base !== 'number' || !Number.isFinite(base) || base < 0) {
    throw new Error(`polyLr: base learning rate must be a finite number ≥ 0, got ${String(base)}.`);
  }
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new Error(`polyLr: totalSteps must be a positive integer, got ${String(totalSteps)}.`);
  }
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > totalSteps) {
    throw new Error(`polyLr: step must be an integer in [0, totalSteps = ${totalSteps}], got ${String(step)}.`);
  }
  if (typeof power !== 'number' || !Number.isFinite(power) || power < 0) {
    throw new Error(`polyLr: power must be a finite number ≥ 0, got ${String(power)}.`);
  }
  return base * (1 - step / totalSteps) ** power;
}

/** What a schedule drives: anything with per-group learning rates (SGD, AdamW). */
export interface LrTarget {
  readonly groupCount: number;
  getLr(groupIndex: number): number;
  setLr(groupIndex: number, lr: number): void;
}

export interface LrScheduleOptions {
  /** Steps of the whole run (the schedule reaches 0 at this step). */
  totalSteps: number;
  /** Poly exponent (default 0.9). */
  power?: number;
  /**
   * Base learning rate per group (default: each group's learning rate when the schedule is
   * made, so groups keep their ratios).
   */
  base?: readonly number[];
}

/**
 * Poly schedule over an optimizer's groups: `schedule.apply(step)` before each optimizer step
 * sets every group's lr to polyLr(base_g, step, totalSteps, power). Stateless apart from the
 * bases, so resuming at step s needs only apply(s).
 */
export class LrSchedule {
  readonly totalSteps: number;
  readonly power: number;
  readonly base: readonly number[];

  constructor(
    readonly target: LrTarget,
    options: LrScheduleOptions,
  ) {
    checkOptions('LrSchedule', options, optionKeys<LrScheduleOptions>({ totalSteps: true, power: true, base: true }));
    this.totalSteps = options.totalSteps;
    this.power = options.power ?? 0.9;
    const n = target.groupCount;
    const base = options.base ?? Array.from({ length: n }, (_, i) => target.getLr(i));
    if (base.length !== n) throw new Error(`LrSchedule: base has ${base.length} learning rate(s) for ${n} group(s).`);
    this.base = Object.freeze([...base]);
    // Validate every argument once, here, with polyLr's messages.
    for (const b of this.base) polyLr(b, 0, this.totalSteps, this.power);
  }

  /** The learning rate of group `groupIndex` at `step`. */
  lrAt(step: number, groupIndex = 0): number {
    const b = this.base[groupIndex];
    if (b === undefined) throw new Error(`LrSchedule.lrAt(): group ${groupIndex} is out of range (${this.base.length} groups).`);
    return polyLr(b, step, this.totalSteps, this.power);
  }

  /** Set every group's learning rate for `step`; returns them. */
  apply(step: number): number[] {
    const lrs = this.base.map((_, g) => this.lrAt(step, g));
    lrs.forEach((lr, g) => this.target.setLr(g, lr));
    return lrs;
  }
}
