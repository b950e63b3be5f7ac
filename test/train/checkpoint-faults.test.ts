/**
 * Checkpoint faults (issue 11, points 1 and 3): a real training checkpoint corrupted byte by byte
 * (header length, JSON header, metadata, payload) is refused; typed metadata (version, step,
 * config, history, changes); NaN in each kind of tensor (weight, BN buffer, EM bases, optimizer
 * state) refused on load naming the tensor, with the model, the optimizer and the output
 * directory unchanged, and refused on write; the NaN stop names a checkpoint verified finite; a
 * run SIGKILLed mid-save leaves the previous checkpoint intact; and `--resume` continues with
 * the stored config, refuses changed training flags unless --allow-change, and records changes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { flags, withFlags, TINY_RUN } from '../helpers.ts';
import * as hg from '../../src/index.node.ts';
import { parseTrainFlags, type TrainFlags } from '../../src/cli/args.ts';
import { main } from '../../src/cli/main.ts';
import { sealCheckpoint } from '../../src/train/checkpoint-verify.ts';

let dir = '';
let good = '';
let goodBytes: Buffer;

const TINY = withFlags(TINY_RUN, flags('--width 4 --train-scenes 8 --val-scenes 2 --quiet'));
const tiny = (extra: string[] = []): TrainFlags => parseTrainFlags([...TINY, ...extra])!;

beforeAll(async () => {
  await hg.init();
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-ckfault-'));
  const r = await train(tiny(['--steps', '2', '--lr', '0.02']), join(dir, 'good'));
  good = r;
  goodBytes = readFileSync(good);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function train(flags: TrainFlags, out: string, resume: string | null = null): Promise<string> {
  const r = await hg.train({ ...flags, out, resume });
  r.model.dispose();
  return r.checkpoint!;
}

function encode(ck: hg.Checkpoint, metadata: Record<string, string>): Buffer {
  const host: Record<string, hg.HostArray> = {};
  for (const [k, t] of Object.entries(ck.tensors)) host[k] = { data: t.data, shape: t.shape };
  return Buffer.concat(hg.encodeSafetensors(host, metadata));
}

/** The good checkpoint with `edit` applied to its decoded form, re-sealed (valid checksums) unless `seal` is false. */
function variant(edit: (ck: hg.Checkpoint) => void, seal = true): Buffer {
  const ck = hg.decodeSafetensors(goodBytes);
  edit(ck);
  const { checksums, ...rest } = ck.metadata;
  return encode(ck, seal ? sealCheckpoint(ck.tensors as Record<string, hg.HostArray>, rest) : { ...rest, checksums: checksums! });
}

/** The error verifying these bytes raises ('' if none). */
function verifyError(bytes: Uint8Array, path = 'bad.safetensors'): string {
  try {
    hg.verifyCheckpoint(hg.decodeSafetensors(bytes, path), path);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('byte-by-byte corruption of a real checkpoint is refused', () => {
  test('every byte of the header length and the JSON header, flipped', () => {
    const headerEnd = 8 + Number(goodBytes.readBigUInt64LE(0));
    const missed: number[] = [];
    for (let i = 0; i < headerEnd; i++) {
      for (const mask of [0x01, 0x20]) {
        const bad = Buffer.from(goodBytes);
        bad[i] ^= mask;
        const m = verifyError(bad);
        if (!m.startsWith('bad.safetensors')) missed.push(i);
      }
    }
    expect(missed, `flipped header bytes accepted (or refused without naming the file): ${missed.slice(0, 20).join(', ')}`).toEqual([]);
  });

  test('payload bytes (a sweep over every tensor, first and last byte of each) are refused naming the tensor', () => {
    const ck = hg.decodeSafetensors(goodBytes);
    const headerEnd = 8 + Number(goodBytes.readBigUInt64LE(0));
    const header = JSON.parse(goodBytes.subarray(8, headerEnd).toString()) as Record<string, { data_offsets: [number, number] }>;
    const positions: [number, string][] = [];
    for (const name of Object.keys(ck.tensors)) {
      const [b, e] = header[name]!.data_offsets;
      positions.push([headerEnd + b, name], [headerEnd + e - 1, name], [headerEnd + ((b + e) >> 1), name]);
    }
    expect(positions.length).toBeGreaterThan(100);
    for (const [pos, name] of positions) {
      const bad = Buffer.from(goodBytes);
      bad[pos] ^= 0x01;
      expect(verifyError(bad), `byte ${pos} of '${name}'`).toMatch(new RegExp(`checksum mismatch in tensor '${name.replace(/\./g, '\\.')}'.*the payload is corrupt`));
    }
  });

  test('a truncated file and a file cut inside the header are refused', () => {
    for (const n of [0, 4, 8, 100, goodBytes.length - 1]) expect(verifyError(goodBytes.subarray(0, n)), `cut at ${n}`).toMatch(/^bad\.safetensors: /);
  });
});

describe('metadata fields are type-checked and the version is checked', () => {
  const cases: [string, (m: Record<string, string>) => void, RegExp][] = [
    ['version 9', (m) => void (m.version = '9'), /format version "9"; this build reads versions 1 and 2/],
    ['version missing', (m) => void delete m.version, /format version null; this build reads versions 1 and 2/],
    ['step "xx"', (m) => void (m.step = 'xx'), /metadata 'step' is "xx"; expected an integer ≥ 0/],
    ['step -1', (m) => void (m.step = '-1'), /metadata 'step' is "-1"; expected an integer ≥ 0/],
    ['step 1.5', (m) => void (m.step = '1.5'), /metadata 'step' is "1.5"/],
    ['kind', (m) => void (m.kind = 'other'), /not a hemgpu training checkpoint \(metadata kind 'other'\)/],
    ['flags not JSON', (m) => void (m.flags = '{lr'), /metadata 'flags' is not JSON/],
    [
      'lr a string',
      (m) => void (m.flags = JSON.stringify({ ...JSON.parse(m.flags!), lr: '0.02' })),
      /'flags' field 'lr' \(--lr\) is "0\.02"; expected a number > 0\. Nothing was loaded\./,
    ],
    // Each field is checked against its setting (TRAIN_SETTINGS): its range and choices too.
    ['eta 7', (m) => void (m.flags = JSON.stringify({ ...JSON.parse(m.flags!), eta: 7 })), /'flags' field 'eta' \(--eta\) is 7; expected a number > 0 and ≤ 1\./],
    [
      'model unknown',
      (m) => void (m.flags = JSON.stringify({ ...JSON.parse(m.flags!), model: 'toString' })),
      /'flags' field 'model' \(--model\) is "toString"; expected 'hemnet', 'emanet', 'pooling' or 'plain'\./,
    ],
    [
      'iterations 0',
      (m) => void (m.flags = JSON.stringify({ ...JSON.parse(m.flags!), iterations: 0 })),
      /'flags' field 'iterations' \(--iterations\) is 0; expected an integer ≥ 1 and ≤ 64\./,
    ],
    ['out null', (m) => void (m.flags = JSON.stringify({ ...JSON.parse(m.flags!), out: null })), /'flags' field 'out' \(--out\) is null; expected a path\./],
    [
      'steps missing',
      (m) => void (m.flags = JSON.stringify({ ...JSON.parse(m.flags!), steps: undefined })),
      /'flags' field 'steps' \(--steps\) is missing; expected an integer ≥ 1/,
    ],
    ['seed 1.5', (m) => void (m.flags = JSON.stringify({ ...JSON.parse(m.flags!), seed: 1.5 })), /'flags' field 'seed' \(--seed\) is 1\.5; expected an integer/],
    ['history loss null (NaN)', (m) => void (m.history = JSON.stringify({ ...JSON.parse(m.history!), loss: [1, null] })), /metadata 'history' must be/],
    ['changes not a list', (m) => void (m.changes = '{}'), /metadata 'changes' must be a list/],
    ['optimizer missing', (m) => void delete m.optimizer, /metadata 'optimizer' is missing; expected a string/],
  ];
  for (const [name, edit, re] of cases) {
    test(name, () => {
      expect(verifyError(variant((ck) => edit(ck.metadata)))).toMatch(re);
    });
  }

  test('metadata changed without re-sealing: the metadata checksum', () => {
    const bad = variant((ck) => void (ck.metadata.flags = ck.metadata.flags!.replace('"lr":0.02', '"lr":0.03')), false);
    expect(verifyError(bad)).toMatch(/checksum mismatch in the metadata .* the header is corrupt/);
  });

  test('checksums missing from a version-2 file', () => {
    const ck = hg.decodeSafetensors(goodBytes);
    delete ck.metadata.checksums;
    expect(verifyError(encode(ck, ck.metadata))).toMatch(/metadata 'checksums' is missing/);
  });
});

describe('non-finite values are refused on load, naming the tensor, and nothing changes', () => {
  const kinds: [string, (k: string) => boolean][] = [
    ['a weight', (k) => k === 'param.stem0.conv.weight'],
    ['a BN buffer', (k) => k.startsWith('buffer.') && /bn\./.test(k)],
    ['the EM bases buffer', (k) => k.startsWith('buffer.em') && /mu/.test(k)],
    ['an optimizer state tensor', (k) => k.startsWith('optim.')],
  ];
  for (const [what, pick] of kinds) {
    for (const bad of [NaN, Infinity]) {
      test(`${bad} in ${what}`, async () => {
        const names = Object.keys(hg.decodeSafetensors(goodBytes).tensors);
        const name = names.find(pick);
        expect(name, `a tensor for ${what} among ${names.join(', ')}`).toBeDefined();
        const path = join(dir, `nan-${name}-${bad}.safetensors`);
        // Re-sealed, so the checksums pass and the finite check is what refuses it.
        writeFileSync(
          path,
          variant((ck) => void ((ck.tensors[name!]!.data as Float32Array)[1] = bad)),
        );
        // Through restoreModel on a live model: nothing is written into the model.
        const flags = tiny(['--steps', '4', '--lr', '0.02']);
        const { train: trainSet } = hg.loadData(flags);
        const model = hg.buildModel(flags, trainSet);
        const before = await Promise.all([...model.parameters().values(), ...model.buffers().values()].map((t) => t.read()));
        const ck = await hg.loadCheckpoint(path);
        expect(() => hg.restoreModel(ck, path, model, flags)).toThrow(new RegExp(`tensor '${name!.replace(/\./g, '\\.')}' holds ${bad} at index 1; a checkpoint must be finite`));
        const after = await Promise.all([...model.parameters().values(), ...model.buffers().values()].map((t) => t.read()));
        expect(after).toEqual(before);
        model.dispose();
        // Through the trainer: refused, and the output directory's checkpoint is untouched.
        const out = join(dir, `nan-out-${name}-${bad}`);
        mkdirSync(out, { recursive: true });
        copyFileSync(good, join(out, 'checkpoint.safetensors'));
        await expect(train(flags, out, path)).rejects.toThrow(new RegExp(`tensor '${name!.replace(/\./g, '\\.')}' holds ${bad}`));
        expect(readFileSync(join(out, 'checkpoint.safetensors')).equals(goodBytes)).toBe(true);
        expect(readdirSync(out)).toEqual(['checkpoint.safetensors']);
      });
    }
  }

  test('a non-finite weight is refused on write, naming it; the existing file is unchanged', async () => {
    const flags = tiny(['--steps', '2', '--lr', '0.02']);
    const { train: trainSet } = hg.loadData(flags);
    const model = hg.buildModel(flags, trainSet);
    const opt = hg.makeOptimizer(model, flags);
    const w = model.parameters().get('classifier.weight')!;
    const data = await w.read();
    data[3] = NaN;
    w.write(data);
    const path = join(dir, 'write-refused.safetensors');
    copyFileSync(good, path);
    await expect(hg.saveTrainingCheckpoint(path, model, opt, 2, flags, { loss: [1, 1], lr: [0.02, 0.01], val: [] })).rejects.toThrow(
      /step 2: the checkpoint was not written: tensor 'param\.classifier\.weight' holds NaN at index 3/,
    );
    expect(readFileSync(path).equals(goodBytes)).toBe(true);
    opt.dispose();
    model.dispose();
  });

  test('the NaN stop names a checkpoint verified finite, not one written after the state went non-finite', async () => {
    const out = join(dir, 'diverge');
    let message = '';
    try {
      await train(tiny(['--steps', '20', '--lr', '1e30', '--checkpoint-every', '1']), out);
    } catch (err) {
      message = (err as Error).message;
    }
    const m = /The last good checkpoint is (\S+) \(step (\d+)\)/.exec(message);
    expect(m, message).not.toBeNull();
    const ck = await hg.loadCheckpoint(m![1]!);
    expect(() => hg.verifyCheckpoint(ck, m![1]!)).not.toThrow();
    expect(ck.metadata.step).toBe(m![2]);
  });

  test('a diverging run does not name a checkpoint an earlier run left in --out', async () => {
    const out = join(dir, 'diverge-stale');
    mkdirSync(out, { recursive: true });
    copyFileSync(good, join(out, 'checkpoint.safetensors'));
    await expect(train(tiny(['--steps', '20', '--lr', '1e30']), out)).rejects.toThrow(/No checkpoint was written\./);
  });
});

describe('checkpoints from before format version 2', () => {
  test('the 4ad1b4d fixture verifies without checksums (version 1)', async () => {
    const path = new URL('../fixtures/segnet-4ad1b4d.safetensors', import.meta.url).pathname;
    const info = hg.verifyCheckpoint(await hg.loadCheckpoint(path), path);
    expect(info).toMatchObject({ step: 2, checksummed: false, changes: [] });
    // It predates --task and --fragment: it trained on the digits task, which is what it reads as.
    expect(JSON.parse(String((await hg.loadCheckpoint(path)).metadata.flags)).task).toBeUndefined();
    expect(info.config).toMatchObject({ task: 'digits', fragment: 12 });
  });
});

describe('--resume: a checkpoint is the run', () => {
  const RUN = ['--eta', '0.2', '--lr', '0.02', '--iterations', '2', '--seed', '7', '--steps', '4'];
  let ckPath = '';
  let errors: string[] = [];
  let logs: string[] = [];
  const cli = async (args: string[]): Promise<number> => {
    errors = [];
    logs = [];
    const err = console.error;
    const log = console.log;
    console.error = (...a: unknown[]) => void errors.push(a.join(' '));
    console.log = (...a: unknown[]) => void logs.push(a.join(' '));
    try {
      return await main(['train', ...args]);
    } finally {
      console.error = err;
      console.log = log;
    }
  };

  beforeAll(async () => {
    // Interrupted after 2 of 4 steps (as Ctrl-C does).
    const out = join(dir, 'resume-run');
    let done = 0;
    const r = await hg.train({ ...tiny(RUN), out }, { onStep: (i) => void (done = i.step), shouldStop: () => done >= 2 });
    r.model.dispose();
    ckPath = r.checkpoint!;
  }, 120_000);

  test('flags left out take the checkpoint values, not the CLI defaults', async () => {
    const out = join(dir, 'resume-cont');
    mkdirSync(out, { recursive: true });
    copyFileSync(ckPath, join(out, 'start.safetensors'));
    expect(await cli(['--resume', join(out, 'start.safetensors'), '--out', out, '--quiet']), errors.join('\n')).toBe(0);
    const info = hg.verifyCheckpoint(await hg.loadCheckpoint(join(out, 'checkpoint.safetensors')), 'x');
    expect(info.config).toMatchObject({ eta: 0.2, lr: 0.02, iterations: 2, seed: 7, steps: 4, size: 16, channels: 8, width: 4, out });
    expect(info.step).toBe(4);
    expect(info.changes).toEqual([]);
    // The schedule is the one planned over 4 steps from lr 0.02: lr history of the straight run.
    const straight = hg.verifyCheckpoint(await hg.loadCheckpoint(await train(tiny(RUN), join(dir, 'resume-straight'))), 'y');
    expect(info.history.lr).toEqual(straight.history.lr);
    expect(info.history.loss.length).toBe(4);
    // Resuming the finished run trains no step: it says so instead of "0.0 images/s".
    expect(await cli(['--resume', join(out, 'checkpoint.safetensors'), '--quiet']), errors.join('\n')).toBe(0);
    expect(logs.join('\n')).toMatch(/trained step 4; validation mIoU \d\.\d{4}, pixel accuracy \d\.\d{4}; no step timed in this run; checkpoint /);
  });

  test('a training flag given with another value is refused naming the flag and both values', async () => {
    for (const [flag, value, saved] of [
      ['lr', '0.03', '0.02'],
      ['eta', '0.5', '0.2'],
      ['steps', '6', '4'],
      ['seed', '1', '7'],
      ['train-scenes', '9', '8'],
    ] as const) {
      expect(await cli(['--resume', ckPath, '--out', join(dir, 'refused'), `--${flag}`, value, '--quiet'])).toBe(2);
      expect(errors.join('\n')).toContain(`--${flag}: the checkpoint ${ckPath} was trained with --${flag} ${saved}; given ${value}.`);
      expect(errors.join('\n')).toContain(`--allow-change ${flag}`);
      if (flag === 'steps') expect(errors.join('\n')).toContain('the poly learning-rate schedule is planned over --steps');
    }
    expect(existsSync(join(dir, 'refused'))).toBe(false);
    // Flags that do not change training, and training flags given with the same value, are accepted.
    const out = join(dir, 'resume-same');
    expect(await cli(['--resume', ckPath, '--out', out, '--lr', '0.02', '--eval-every', '1', '--checkpoint-every', '3', '--quiet']), errors.join('\n')).toBe(0);
  });

  test('a stop requested during the final validation ends it and saves the finished run without it, as a stop during training does', async () => {
    const out = join(dir, 'stop-in-validation');
    let last = false;
    let calls = 0;
    // The loop asks once after the last step (no: it finishes); every later ask comes from the validation's progress.
    const r = await hg.train({ ...tiny(RUN), out }, { onStep: (i) => void (last = i.step === i.total), shouldStop: () => last && ++calls > 1 });
    r.model.dispose();
    expect(r.interrupted).toBe(true);
    expect(r.steps).toBe(4);
    expect(r.miou).toBeNaN();
    const info = hg.verifyCheckpoint(await hg.loadCheckpoint(r.checkpoint!), 'x');
    expect(info.step).toBe(4);
    expect(info.history.val.map((v) => v.step)).not.toContain(4);
  });

  test("a run never replaces another run's checkpoint: refused unless it resumes that checkpoint or --overwrite; a moved checkpoint resumes beside itself", async () => {
    const a = join(dir, 'guard-a');
    mkdirSync(a, { recursive: true });
    copyFileSync(ckPath, join(a, 'checkpoint.safetensors'));
    const before = readFileSync(join(a, 'checkpoint.safetensors'));
    // A fresh run into it is refused before any work, naming the three ways on; the bytes stay.
    expect(await cli([...TINY, ...RUN, '--out', a])).toBe(2);
    expect(errors.at(-1)).toBe(
      `--out ${a}: it holds the checkpoint of another run (${join(a, 'checkpoint.safetensors')}), which this run would replace. ` +
        `Continue that run with --resume ${join(a, 'checkpoint.safetensors')}, give another --out, or add --overwrite to replace it.`,
    );
    // Resuming another checkpoint into it is refused the same way.
    expect(await cli(['--resume', ckPath, '--out', a])).toBe(2);
    expect(errors.at(-1)).toMatch(/^--out .*guard-a: it holds the checkpoint of another run/);
    expect(readFileSync(join(a, 'checkpoint.safetensors')).equals(before)).toBe(true);
    // The directory moved, and a new run (another seed) in the old place: resuming the moved
    // checkpoint without --out writes beside it, not into the directory recorded in it.
    const archive = join(dir, 'guard-a-archive');
    mkdirSync(archive, { recursive: true });
    copyFileSync(join(a, 'checkpoint.safetensors'), join(archive, 'checkpoint.safetensors'));
    // What a save killed mid-write leaves (another name is left alone) is removed by the next run there, naming it.
    const leftover = join(archive, '.checkpoint.safetensors.4242.0123456789ab.tmp');
    writeFileSync(leftover, 'partial');
    writeFileSync(join(archive, 'notes.tmp'), 'mine');
    expect(await cli(['--resume', join(archive, 'checkpoint.safetensors')]), errors.join('\n')).toBe(0);
    expect(existsSync(leftover)).toBe(false);
    expect(existsSync(join(archive, 'notes.tmp'))).toBe(true);
    expect(errors.join('\n')).toContain(`hemgpu train: removed ${leftover}, left by a save that was interrupted`);
    expect(logs.join('\n')).toContain(`output ${archive}`);
    expect(hg.verifyCheckpoint(await hg.loadCheckpoint(join(archive, 'checkpoint.safetensors')), 'x').step).toBe(4);
    expect(readFileSync(join(a, 'checkpoint.safetensors')).equals(before)).toBe(true);
    // --overwrite replaces it (train and demo take it; ablate resumes its cells instead).
    expect(await cli([...TINY, ...withFlags(RUN, ['--steps', '1']), '--out', a, '--overwrite']), errors.join('\n')).toBe(0);
    expect(hg.verifyCheckpoint(await hg.loadCheckpoint(join(a, 'checkpoint.safetensors')), 'x').step).toBe(1);
    expect(await main(['ablate', '--overwrite'])).toBe(2);
  });

  test('--allow-change continues with the new values and records them in the history', async () => {
    const out = join(dir, 'resume-changed');
    expect(await cli(['--resume', ckPath, '--out', out, '--lr', '0.03', '--steps', '5', '--allow-change', 'lr,steps', '--quiet']), errors.join('\n')).toBe(0);
    const info = hg.verifyCheckpoint(await hg.loadCheckpoint(join(out, 'checkpoint.safetensors')), 'x');
    expect(info.config).toMatchObject({ lr: 0.03, steps: 5, eta: 0.2, seed: 7 });
    expect(info.changes).toEqual([
      { step: 2, flag: 'lr', old: 0.02, new: 0.03 },
      { step: 2, flag: 'steps', old: 4, new: 5 },
    ]);
    expect(await cli(['--resume', ckPath, '--lr', '0.03', '--allow-change', 'eta', '--quiet'])).toBe(2);
    expect(errors.join('\n')).toContain('--lr: the checkpoint');
    expect(await cli(['--lr', '0.03', '--allow-change', 'lr', '--quiet'])).toBe(2);
    expect(errors.join('\n')).toContain('--allow-change: applies to --resume only');
    expect(await cli(['--resume', ckPath, '--allow-change', 'out', '--quiet'])).toBe(2);
    expect(errors.join('\n')).toContain("--allow-change: 'out' is not a training flag");
    // The flags that shape the weights can never change: --allow-change does not offer them, and
    // 'all' does not cover them; the message says what to do instead of suggesting --allow-change.
    expect(await cli(['--resume', ckPath, '--width', '8', '--allow-change', 'width', '--quiet'])).toBe(2);
    expect(errors.at(-1)).toBe("--allow-change: --width shapes the model's weights, which a checkpoint cannot change; train a new run (without --resume) for another --width.");
    expect(errors.join('\n')).not.toMatch(/is not a training flag; use 'all' or a comma-separated list of: [^\n]*\bwidth\b/);
    for (const [flag, value, saved] of [
      ['width', '8', '4'],
      ['model', 'emanet', 'hemnet'],
      ['channels', '16', '8'],
    ] as const) {
      expect(await cli(['--resume', ckPath, '--out', join(dir, 'refused-shape'), `--${flag}`, value, '--allow-change', 'all', '--quiet'])).toBe(2);
      expect(errors.at(-1)).toBe(
        `--${flag}: the checkpoint ${ckPath} was trained with --${flag} ${saved}; given ${value}. Its weights have the shape --${flag} ${saved} gives, so a resumed run cannot change it (not with --allow-change either): leave --${flag} out, or train a new run without --resume.`,
      );
    }
    expect(existsSync(join(dir, 'refused-shape'))).toBe(false);
  });
});

describe('SIGKILL during a save', () => {
  test('the previous checkpoint is intact and loads; the partial file never replaced it', async () => {
    const root = new URL('../..', import.meta.url).pathname;
    const out = join(dir, 'killed');
    mkdirSync(out, { recursive: true });
    const ck = join(out, 'checkpoint.safetensors');
    copyFileSync(good, ck);
    const child = spawn(
      process.execPath,
      ['scripts/run.mjs', 'test/checkpoint-child.ts', 'train', '--resume', ck, '--out', out, '--steps', '3', '--allow-change', 'steps', '--checkpoint-every', '1', '--quiet'],
      { cwd: root, env: { ...process.env, HEMGPU_TEST_SAVE_PAUSE_MS: '60000' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // Wait until the save has begun: the temporary file exists, with the header written.
    const t0 = Date.now();
    let tmp: string | undefined;
    while (!tmp && Date.now() - t0 < 90_000 && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 100));
      tmp = readdirSync(out).find((f) => f.endsWith('.tmp'));
    }
    expect(tmp, output).toBeDefined();
    child.kill('SIGKILL');
    await exited;
    expect(readFileSync(ck).equals(goodBytes)).toBe(true);
    expect(() => hg.verifyCheckpoint(hg.decodeSafetensors(readFileSync(ck)), ck)).not.toThrow();
    // The partial file is not a checkpoint (what the rename would have installed had it finished).
    expect(verifyError(readFileSync(join(out, tmp!)))).not.toBe('');
  }, 120_000);
});
