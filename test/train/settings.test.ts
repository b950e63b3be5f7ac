/**
 * One table per training setting (issue 25, point 2): TRAIN_SETTINGS (src/train/config.ts) declares
 * each TrainConfig field's flag, type, range or choices, default and help once; the CLI's flags,
 * their checks and --help, a checkpoint's config check, the demo's recipe, the page's URL
 * parameters and the PyTorch twin (python/hemgpu_twin/settings.json) derive from it. The last test
 * greps the code that handles settings for a default or a range written a second time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as hg from '../../src/index.node.ts';
import { TRAIN_SPEC, parseTrainFlags } from '../../src/cli/args.ts';
import { usageErrorOf } from '../cli/run-cli.ts';
import { DEMO_SPEC } from '../../src/cli/demo.ts';
import { MODEL_SHAPE_FIELDS, expectedText, pickTrainConfig, fitsSetting, rangeText, settingEntries, type Setting } from '../../src/train/config.ts';
import { parseParams } from '../../examples/web/params.ts';
import { SETTINGS_JSON_PATH, settingsJson } from '../../scripts/settings.ts';
import { unitEta } from '../../src/model/seg-models.ts';

const entries = settingEntries();

describe('TRAIN_SETTINGS', () => {
  test('covers every TrainConfig field, in checkpoint order, and its defaults are valid values', () => {
    expect(Object.keys(hg.TRAIN_SETTINGS)).toEqual(Object.keys(pickTrainConfig(hg.demoConfig())));
    for (const [k, s] of entries) {
      if (s.default !== null) expect(fitsSetting(s, s.default), `${k}'s default ${String(s.default)}`).toBe(true);
      if (s.absent !== undefined) expect(fitsSetting(s, s.absent), `${k}'s absent value`).toBe(true);
    }
    // trainDefaults() is a fresh run's config, and what `hemgpu train` with no flags parses to.
    const parsed = parseTrainFlags([])!;
    expect(pickTrainConfig(parsed)).toEqual(hg.trainDefaults());
    expect(hg.trainDefaults()).toMatchObject({ model: 'hemnet', eta: 0.5, iterations: 3, bases: 16, optimizer: 'sgd', basesAverage: 'plain' });
    expect(MODEL_SHAPE_FIELDS).toEqual(['model', 'bases', 'channels', 'width', 'data']);
  });

  test('the CLI spec is the table: a flag per setting, its default, its help with the range or the choices', () => {
    for (const [k, s] of entries) {
      const f = TRAIN_SPEC[s.flag];
      expect(f, `--${s.flag} (${k})`).toBeDefined();
      expect(f!.default).toBe(s.default === null ? undefined : String(s.default));
      expect(f!.help.startsWith(s.help)).toBe(true);
      if (s.kind === 'number') expect(f!.help).toContain(rangeText(s.range));
      if (s.kind === 'choice') for (const c of Object.keys(s.choices)) expect(f!.help).toContain(c);
    }
    expect(Object.keys(TRAIN_SPEC).filter((k) => !entries.some(([, s]) => s.flag === k))).toEqual(['allow-change', 'quiet']);
  });

  /** A value just outside a number setting's range (or null when it has no bound). */
  function outside(s: Setting): string | null {
    if (s.kind !== 'number') return null;
    if (s.range.max !== undefined) return String(s.range.max + 1);
    if (s.range.min !== undefined) return String(s.range.minExclusive ? s.range.min : s.range.min - 1);
    return null;
  }

  const NARROWED = ['maxDigits', 'minScale', 'maxScale', 'fragment'];

  test('every flag is checked against its setting: a value outside the range or the choices is refused, naming both', () => {
    for (const [k, s] of entries) {
      const bad = s.kind === 'choice' ? 'toString' : outside(s);
      if (bad === null) continue;
      const argv = s.digitsOnly && k === 'fragment' ? ['--task', 'context', `--${s.flag}`, bad] : [`--${s.flag}`, bad];
      const err = usageErrorOf(argv);
      expect((err as Error).message).toContain(`--${s.flag}:`);
      // The digit sizes' ranges are narrowed by the settings that bound them (--size, --min-*): the message gives the narrowed one.
      if (NARROWED.includes(k)) expect((err as Error).message).toMatch(new RegExp(`^--${s.flag}: expected an integer ≥ \\d+`));
      else expect((err as Error).message).toContain(s.kind === 'number' ? rangeText(s.range) : expectedText(s));
    }
    // An integer setting refuses a fraction; each bound of a range is accepted.
    expect(() => parseTrainFlags(['--iterations', '2.5'])).toThrow('--iterations: expected an integer ≥ 1 and ≤ 64');
    expect(parseTrainFlags(['--iterations', '64'])!.iterations).toBe(64);
    expect(parseTrainFlags(['--eta', '1'])!.eta).toBe(1);
    expect(() => parseTrainFlags(['--eta', '0'])).toThrow('--eta: expected a number > 0 and ≤ 1');
  });

  test('a checkpoint config, the page and the CLI agree on what a value may be', () => {
    for (const [k, s] of entries) {
      if (s.kind !== 'number') continue;
      const bad = outside(s);
      if (bad === null) continue;
      expect(fitsSetting(s, Number(bad)), k).toBe(false);
      expect(fitsSetting(s, s.default), k).toBe(true);
    }
    // The page takes the settings' ranges, capped where a tab could not finish: η's is the CLI's.
    expect(parseParams('?eta=1.5').errors).toEqual(['eta=1.5: must be a number > 0 and ≤ 1.']);
    expect(parseParams('?iterations=21').errors).toEqual(['iterations=21: must be an integer ≥ 1 and ≤ 20.']);
    expect(parseParams('?warmup=-1').errors).toEqual(['warmup=-1: must be an integer ≥ 0 and ≤ 1000000.']);
    expect(parseParams('?eta=1&iterations=20&seed=4294967295').errors).toEqual([]);
    expect(parseParams('?dataSeed=-1').errors).toEqual(['dataSeed=-1: must be an integer ≥ 0 and ≤ 4294967295.']);
    expect(parseParams('?dataSeed=3').params.dataSeed).toBe(3);
  });

  test("the demo's defaults are its recipe's values, the other flags the settings' defaults", () => {
    const demo = hg.demoConfig();
    for (const [k, s] of entries) {
      if (k === 'model' || k === 'out' || k === 'resume' || k === 'vocRoot' || k === 'steps') continue;
      expect(DEMO_SPEC[s.flag]?.default, `demo --${s.flag}`).toBe(String(demo[k]));
    }
  });
});

describe("the PyTorch twin's copy", () => {
  test(`${SETTINGS_JSON_PATH} is what \`npm run settings\` writes from the table`, () => {
    expect(readFileSync(SETTINGS_JSON_PATH, 'utf8'), 'stale: run `npm run settings`').toBe(settingsJson());
  });

  test.runIf(existsSync('/usr/bin/python3'))('the twin reads its fields, defaults and ranges from it', () => {
    const script = [
      'import json, sys',
      "sys.path.insert(0, 'python')",
      'from hemgpu_twin import settings',
      "print(json.dumps({'fields': settings.TRAIN_CONFIG_FIELDS, 'defaults': settings.DEFAULTS, 'eta': settings.problem('eta', 7), 'iterations': settings.problem('iterations', 64)}))",
    ].join('\n');
    const out = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' })) as {
      fields: [string, string, boolean, unknown][];
      defaults: Record<string, unknown>;
      eta: string | null;
      iterations: string | null;
    };
    expect(out.fields).toEqual(entries.map(([k, s]) => [k, s.flag, s.training, s.absent ?? null]));
    expect(out.defaults).toEqual(hg.trainDefaults());
    expect(out.eta).toBe('--eta: expected a number > 0 and ≤ 1, got 7.');
    expect(out.iterations).toBeNull();
  });
});

/** The files that handle training settings (the table's own file left out). */
function settingCode(): string[] {
  const walk = (dir: string, ext: RegExp): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name), ext) : ext.test(d.name) ? [join(dir, d.name)] : []));
  return [...walk('src/cli', /\.ts$/), ...walk('src/train', /\.ts$/), ...walk('examples/web', /\.ts$/), ...walk('python', /\.py$/)].filter((f) => !NOT_SETTING_CODE.includes(f));
}

/** Files that declare other things than TrainConfig's settings, where the same names mean something else. */
const NOT_SETTING_CODE = [
  'src/train/config.ts', // the table itself
  'src/cli/structured.ts', // `hemgpu structured`: its own config (StructuredConfig, STRUCTURED_DEFAULTS), not a TrainConfig
  'src/train/structured.ts',
];

/**
 * Lines the grep finds that are not a setting's default, with the reason: a value that equals
 * the default by its own logic.
 */
const NOT_A_COPY: [RegExp, string][] = [
  [/quickShrink\(flags, given, \{ steps: \d+, 'train-scenes': \d+, 'val-scenes': \d+, batch: \d+, 'eval-every': 0 \}\)/, '--quick: no validation before the end of a smoke test'],
];

describe('no copies', () => {
  test('no default or range of a setting is written outside the table (a grep over the CLI, the training code, the page and the twin)', () => {
    const files = settingCode().map((f) => [f, readFileSync(f, 'utf8')] as const);
    expect(files.length).toBeGreaterThan(30);
    const found: string[] = [];
    const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
    for (const [k, s] of entries) {
      if (s.default === null) continue;
      const names = [k, s.flag, k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)].map(esc).join('|');
      const value = typeof s.default === 'number' ? `${esc(String(s.default))}(?:\\.0+)?` : esc(s.default);
      // `eta: 0.5`, `'eta': '0.5'`, `eta=0.5`, `default: '0.5'` on the flag's line.
      const assign = new RegExp(`(?<![\\w.-])["']?(?:${names})["']?\\s*[:=]\\s*["']?${value}["']?(?=[\\s,)}\\]])`);
      const dflt = new RegExp(`["']?(?:${names})["']?\\s*:\\s*\\{[^\\n}]*\\bdefault:\\s*["']?${value}["']?(?=[\\s,)}\\]])`);
      // A range check written for the flag: num('eta', ...) with its own bounds.
      const check = new RegExp(`num\\(\\s*'${esc(s.flag)}',[^;]*\\{\\s*(?:int|min|max)`);
      for (const [f, text] of files) {
        text.split('\n').forEach((line, i) => {
          if ((assign.test(line) || dflt.test(line) || check.test(line)) && !NOT_A_COPY.some(([re]) => re.test(line))) found.push(`${f}:${i + 1} (${k}): ${line.trim()}`);
        });
      }
    }
    expect(found).toEqual([]);
  });
});

test("unitEta: the η each model's EM unit runs with, from SEG_MODEL_UNITS (EMANet's is 1 whatever the config says)", () => {
  expect([unitEta('hemnet', 0.3), unitEta('pooling', 0.3), unitEta('emanet', 0.3), unitEta('plain', 0.3)]).toEqual([0.3, 0.3, 1, null]);
});
