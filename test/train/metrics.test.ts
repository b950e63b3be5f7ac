import { describe, expect, test } from 'vitest';
import { ConfusionMatrix, argmaxLastAxis } from '../../src/train/metrics.ts';

describe('segmentation metrics', () => {
  test('IoU and mIoU of a hand-computed case, ignore label skipped', () => {
    const m = new ConfusionMatrix(3);
    // truth:      0 0 1 1 2 255
    // prediction: 0 1 1 1 0 2
    m.add([0, 0, 1, 1, 2, 255], [0, 1, 1, 1, 0, 2]);
    // class 0: tp 1, row 2, col 2 → 1/3; class 1: tp 2, row 2, col 3 → 2/3; class 2: tp 0, row 1, col 0 → 0
    const iou = m.iou();
    expect(iou[0]).toBeCloseTo(1 / 3, 12);
    expect(iou[1]).toBeCloseTo(2 / 3, 12);
    expect(iou[2]).toBe(0);
    expect(m.meanIoU()).toBeCloseTo(1 / 3, 12);
    expect(m.pixelAccuracy()).toBeCloseTo(3 / 5, 12);
  });

  test('classes that never occur are left out of the mean', () => {
    const m = new ConfusionMatrix(4);
    m.add([0, 1, 1], [0, 1, 1]);
    expect(m.iou()[2]).toBeNaN();
    expect(m.meanIoU()).toBe(1);
  });

  test('bad input is refused by message', () => {
    expect(() => new ConfusionMatrix(0)).toThrow(/positive integer/);
    const m = new ConfusionMatrix(2);
    expect(() => m.add([0, 1], [0])).toThrow(/2 labels but 1 predictions/);
    expect(() => m.add([3], [0])).toThrow(/outside \[0, 2\)/);
  });

  test('argmax over the last axis picks the first maximum', () => {
    expect(Array.from(argmaxLastAxis(Float32Array.from([0, 2, 2, 5, 1, 0]), 3))).toEqual([1, 0]);
    expect(() => argmaxLastAxis(new Float32Array(5), 3)).toThrow(/not rows of 3/);
  });
});
