/**
 * Interrupts and the output directory of the `hemgpu` command line (issue 11, points 2 and 7),
 * tested on the real command (bin/hemgpu.mjs, dist/cli.js rebuilt from the sources first) as a
 * child process: Ctrl-C (SIGINT) and SIGTERM stop after the current step, save a checkpoint
 * without the validation pass and exit 130 / 143; a second Ctrl-C quits at once, never by a
 * signal (the segfault of exiting while Dawn has work in flight); the same in a real terminal
 * (tmux); a second live run into one --out is refused by the lock file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TINY_RUN, withFlags } from '../helpers.ts';
import * as hg from '../../src/index.node.ts';
import { capture } from './run-cli.ts';
import { nodeOptions } from '../../scripts/esbuild-options.mjs';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/hemgpu.mjs');
const NOTICE = /Ctrl-C — finishing this step, then saving a checkpoint \(no validation pass\) and exiting/;
let dir: string;

beforeAll(async () => {
  await hg.init();
  dir = mkdtempSync(join(tmpdir(), 'hemgpu-interrupt-'));
  // bin/hemgpu.mjs runs dist/cli.js: build it from the sources under test.
  await build(nodeOptions(join(ROOT, 'src/cli/main.ts'), join(ROOT, 'dist/cli.js')));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output matches `re`. */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const onData = (b: Buffer): void => {
    text += b.toString();
    for (const w of [...waiters]) if (w.re.test(text)) w.resolve();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return {
    child,
    output: () => text,
    exit,
    waitFor: (re, ms = 60_000) =>
      new Promise<void>((res, rej) => {
        if (re.test(text)) return res();
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${re} in:\n${text}`)), ms);
        waiters.push({ re, resolve: () => (clearTimeout(timer), res()) });
        void exit.then(() => setTimeout(() => rej(new Error(`exited before ${re} appeared:\n${text}`)), 50));
      }),
  };
}

/** A long tiny run: non-TTY output prints "step 1/2000" after the first step (the pipelines are compiled by then). */
function longRun(out: string, model = 'hemnet', extra: string[] = []): Run {
  // A flag in `extra` replaces the run's own (the CLI refuses a flag given twice).
  return start(['train', ...withFlags([...TINY_RUN, '--model', model, '--steps', '2000', '--eval-every', '1', '--out', out], extra)]);
}

describe('Ctrl-C and SIGTERM', () => {
  test('SIGINT: notice, the step finishes, a checkpoint without a validation pass, exit 130, lock removed; a second run into the same --out meanwhile is refused', async () => {
    const out = join(dir, 'sigint');
    const run = longRun(out);
    await run.waitFor(/step 1\/2000/);
    // The live run holds --out: a second run there is refused (exit 2), naming the pid.
    const second = start(['train', ...TINY_RUN, '--steps', '1', '--out', out]);
    const s = await second.exit;
    expect(s.code, second.output()).toBe(2);
    expect(second.output()).toMatch(new RegExp(`another run \\(pid ${run.child.pid}\\) is writing there`));
    run.child.kill('SIGINT');
    const { code, signal } = await run.exit;
    const text = run.output();
    expect(signal, text).toBeNull();
    expect(code, text).toBe(130);
    expect(text).toMatch(NOTICE);
    expect(text).toMatch(/interrupted at step \d+ \(no validation pass\)/);
    // --eval-every 1 validates after every step, but not after the step that saw the signal.
    const evals = (text.match(/validation mIoU/g) ?? []).length;
    const step = Number(/interrupted at step (\d+)/.exec(text)![1]);
    expect(evals).toBe(step - 1);
    const ck = await hg.loadCheckpoint(join(out, 'checkpoint.safetensors'));
    expect(Number(ck.metadata.step)).toBe(step);
    expect(existsSync(join(out, '.hemgpu.lock'))).toBe(false);
  });

  test('hemgpu structured: Ctrl-C drops the run in progress and writes the runs finished so far, exit 130', async () => {
    const out = join(dir, 'structured');
    const run = start(['structured', 'o2p', '--seeds', '2', '--steps', '200', '--batch', '2', '--train-scenes', '16', '--val-scenes', '8', '--out', out]);
    await run.waitFor(/o2p seed 1: mAP/, 120_000);
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    const text = run.output();
    expect(code, text).toBe(130);
    expect(text).toMatch(/Ctrl-C — finishing this step, then writing the results of the runs finished so far \(the run in progress is not counted\)/);
    expect(text).toMatch(/avg seed 1: stopped at step \d+; not counted/);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    expect(md).toMatch(/\| o2p \| /);
    expect(md).not.toMatch(/\| avg \| /);
    expect(existsSync(join(out, '.hemgpu.lock'))).toBe(false);
  });

  test('SIGTERM behaves like the first Ctrl-C and exits 143 (128 + 15)', async () => {
    const out = join(dir, 'sigterm');
    const run = longRun(out, 'plain');
    await run.waitFor(/step 1\/2000/);
    run.child.kill('SIGTERM');
    const { code, signal } = await run.exit;
    expect(signal, run.output()).toBeNull();
    expect(code, run.output()).toBe(143);
    expect(run.output()).toMatch(/SIGTERM — finishing this step, then saving a checkpoint/);
    const ck = await hg.loadCheckpoint(join(out, 'checkpoint.safetensors'));
    expect(Number(ck.metadata.step)).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(out, '.hemgpu.lock'))).toBe(false);
  });

  test('SIGTERM at any moment of setup ends the process within 5 s; before the first step nothing is written', async () => {
    // 3000 scenes make the setup (data, device, model) last about a second on SwiftShader.
    const outcomes = new Set<string>();
    // The last case waits for the first step's line instead of a time, so it is after a step on any machine.
    for (const delay of [0, 150, 400, 900, 'step 1'] as const) {
      const out = join(dir, `setup-${delay}`);
      const run = start(['train', ...withFlags(TINY_RUN, ['--train-scenes', '3000']), '--steps', '2000', '--out', out]);
      if (delay === 'step 1') await run.waitFor(/step 1\/2000/);
      else await new Promise((r) => setTimeout(r, delay));
      const sent = performance.now();
      run.child.kill('SIGTERM');
      const { code, signal } = await run.exit;
      const took = performance.now() - sent;
      expect(took, `${delay} ms: ${run.output()}`).toBeLessThan(5000);
      // Before the handlers are installed Node's default ends it by the signal; after, 143.
      expect(code === 143 || signal === 'SIGTERM', `${delay} ms: ${code} ${signal} ${run.output()}`).toBe(true);
      const before = /stopped before its first step; nothing was written\./.test(run.output());
      if (before || signal === 'SIGTERM') expect(existsSync(join(out, 'checkpoint.safetensors')), run.output()).toBe(false);
      else expect(run.output()).toMatch(/interrupted at step [1-9]\d* \(no validation pass\); checkpoint /);
      expect(existsSync(join(out, '.hemgpu.lock'))).toBe(false);
      outcomes.add(before ? 'before the first step' : signal ? 'by the signal' : 'after a step');
    }
    // 0 ms always comes before Node has installed the handlers, and 'step 1' after a step; the
    // delays between land before the first step here (a machine much faster than this one's
    // 2 cores could run past it in 150–900 ms: then they need a look).
    expect([...outcomes].sort()).toEqual(['after a step', 'before the first step', 'by the signal']);
  });

  test.each([['demo'], ['ablate']])('hemgpu %s: SIGTERM during setup or training ends it within 5 s, the lock removed', async (command) => {
    for (const delay of [300, 1500]) {
      const out = join(dir, `${command}-term-${delay}`);
      const run = start([command, '--quick', ...TINY_RUN, '--steps', '400', '--out', out]);
      await new Promise((r) => setTimeout(r, delay));
      const sent = performance.now();
      run.child.kill('SIGTERM');
      const { code, signal } = await run.exit;
      expect(performance.now() - sent, `${delay} ms: ${run.output()}`).toBeLessThan(5000);
      expect(code === 143 || signal === 'SIGTERM', `${delay} ms: ${code} ${signal} ${run.output()}`).toBe(true);
      expect(existsSync(join(out, '.hemgpu.lock')), run.output()).toBe(false);
    }
  });

  test.runIf(existsSync('/proc/self')).each([
    ['train', ...TINY_RUN, '--steps', '1'],
    ['demo', '--quick'],
    ['ablate', '--quick'],
    ['structured', 'o2p', '--quick'],
  ])('an --out the OS cannot create (mkdir -p spun forever on /proc/x) exits 2 within 5 s, before the device starts, as a real process: %s', async (...args) => {
    const t0 = performance.now();
    const run = start([...args, '--out', '/proc/hemgpu-no-such/run']);
    const { code } = await run.exit;
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(code, run.output()).toBe(2);
    // The only line: no adapter was named, so the device never started.
    expect(run.output().trim()).toBe('--out /proc/hemgpu-no-such/run: cannot create the directory (cannot create /proc/hemgpu-no-such (ENOENT)).');
  });

  test('a second Ctrl-C quits at once with 130, never by a signal (10 tries, GPU work in flight)', async () => {
    for (let i = 0; i < 10; i++) {
      const out = join(dir, `twice-${i}`);
      // A validation pass of 100 scenes after every step keeps GPU work in flight most of the time
      // (the old code crashed when the second Ctrl-C came during its final validation pass).
      const run = longRun(out, 'plain', ['--val-scenes', '100']);
      await run.waitFor(/step 1\/2000/);
      run.child.kill('SIGINT');
      await run.waitFor(/Ctrl-C — /);
      await new Promise((r) => setTimeout(r, 40 * i));
      run.child.kill('SIGINT');
      const { code, signal } = await run.exit;
      const text = run.output();
      expect(signal, `try ${i}: ${text}`).toBeNull();
      expect(code, `try ${i}: ${text}`).toBe(130);
      if (/again — quitting now/.test(text)) expect(text).toMatch(/the previous file is intact/);
      expect(existsSync(join(out, '.hemgpu.lock')), `try ${i}`).toBe(false);
    }
  }, 240_000);

  const tmux = spawnSync('tmux', ['-V']).status === 0;
  test.skipIf(!tmux)('in a real terminal (tmux; skipped when tmux is not installed — .ci/run installs it): the notice stays on screen below the progress bar', async () => {
    const out = join(dir, 'tmux');
    const session = `hemgpu-test-${process.pid}`;
    const status = join(dir, 'tmux-status');
    const cmd = `${process.execPath} ${BIN} train ${TINY_RUN.join(' ')} --steps 2000 --out ${out}; echo $? > ${status}; sleep 60`;
    const t = (...a: string[]): string => spawnSync('tmux', a, { encoding: 'utf8' }).stdout;
    spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '200', '-y', '40', '-c', ROOT, cmd]);
    try {
      const pane = (): string => t('capture-pane', '-p', '-t', session);
      const until = async (ok: () => boolean, what: string): Promise<void> => {
        for (let i = 0; i < 600 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
        if (!ok()) throw new Error(`tmux: timed out waiting for ${what}:\n${pane()}`);
      };
      await until(() => /step [1-9]\d*\/2000/.test(pane()), 'the progress bar');
      t('send-keys', '-t', session, 'C-c');
      await until(() => existsSync(status), 'the exit status');
      expect(readFileSync(status, 'utf8').trim(), pane()).toBe('130');
      const screen = pane();
      expect(screen).toMatch(NOTICE);
      expect(screen).toMatch(/interrupted at step \d+/);
      await hg.loadCheckpoint(join(out, 'checkpoint.safetensors'));
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  });
});

describe('--out', () => {
  test('naming a file is a usage error that says so (not a raw EEXIST)', async () => {
    const file = join(dir, 'a-file');
    spawnSync('touch', [file]);
    const r = await capture(['train', ...TINY_RUN, '--steps', '1', '--quiet', '--out', file]);
    expect(r.code).toBe(2);
    expect(r.text).toMatch(/--out .*a-file: that is a file, not a directory/);
  });

  test('a stale lock (its process is gone) is taken over with a notice, and removed at the end', async () => {
    const out = join(dir, 'stale');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(dead.stdout);
    spawnSync('mkdir', ['-p', out]);
    spawnSync('sh', ['-c', `echo ${pid} > ${join(out, '.hemgpu.lock')}`]);
    const r = await capture(['train', ...TINY_RUN, '--steps', '1', '--quiet', '--out', out]);
    expect(r.code, r.text).toBe(0);
    expect(r.text).toMatch(new RegExp(`taking over .*\\.hemgpu\\.lock: its run \\(pid ${pid}\\) is no longer running`));
    expect(existsSync(join(out, '.hemgpu.lock'))).toBe(false);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
  });
});

describe('scripts/run.mjs', () => {
  test('runs from another directory and leaves no .cache/ there', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'hemgpu-cwd-'));
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts/run.mjs'), join(ROOT, 'examples/quickstart.ts')], { cwd, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/gradient check .* OK/);
      expect(existsSync(join(cwd, '.cache'))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
