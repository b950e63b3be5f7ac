/**
 * The page's URL parameters (for sharing a set-up and for the tests), parsed and validated:
 * every problem is collected, named with the parameter, the value and what is allowed, and shown
 * on the page; the page then trains nothing until the URL is fixed.
 *   ?model=emanet&steps=6&trainScenes=16&valScenes=8&autostart=1
 */
import { SEG_MODELS, type SegModelName } from '../../src/model/seg-models.ts';
import { TRAIN_SETTINGS, inRange, rangeText, type NumberRange } from '../../src/train/config.ts';

export type PageModel = SegModelName;

/** What the URL may set; absent values fall back to the demo's recipe (demoConfig). */
export interface PageParams {
  model: PageModel;
  steps?: number;
  trainScenes?: number;
  valScenes?: number;
  batch?: number;
  seed?: number;
  /** Seed of the digit scenes (0: seed's). */
  dataSeed?: number;
  /** AdamW's base learning rate and its linear warm-up steps. */
  lr?: number;
  warmup?: number;
  /** Validate every N steps (0: only at the end). */
  evalEvery?: number;
  /** HEM step size η used to train (hemnet) and, initially, to draw the attention maps. */
  eta?: number;
  /** EM iterations T during training. */
  iterations?: number;
  /** EM iterations T at evaluation and in the attention maps. */
  evalIterations?: number;
  /** EM bases K. */
  bases?: number;
  /** Redraw the figures every N steps (default 10). */
  figureEvery: number;
  /** Start training as soon as the page is ready. */
  autostart: boolean;
  /** Point counts N of the benchmark's shapes (B 1, C 64, K 64, T 3). */
  benchN: number[];
}

/** The training settings the URL may set (TrainConfig fields: their ranges are TRAIN_SETTINGS'). */
export const URL_SETTINGS = ['steps', 'trainScenes', 'valScenes', 'batch', 'seed', 'dataSeed', 'lr', 'warmup', 'evalEvery', 'eta', 'iterations', 'bases'] as const;

/**
 * The page's caps on top of the settings' ranges: what a tab can hold and finish, so that a URL
 * cannot ask it for hours or gigabytes.
 */
const PAGE_CAPS: Record<(typeof URL_SETTINGS)[number], number> = {
  steps: 1_000_000,
  trainScenes: 100_000,
  valScenes: 10_000,
  batch: 256,
  seed: Infinity,
  dataSeed: Infinity,
  lr: 10,
  warmup: 1_000_000,
  evalEvery: 1_000_000,
  eta: Infinity,
  iterations: 20,
  bases: 512,
};

const capped = (range: NumberRange, cap: number): NumberRange => ({ ...range, max: Math.min(range.max ?? Infinity, cap) });

/** Every numeric URL parameter's range: the training settings' (capped), T at evaluation as T in training, and the figures' interval. */
const RULES: Record<string, NumberRange> = {
  ...Object.fromEntries(URL_SETTINGS.map((k) => [k, capped(TRAIN_SETTINGS[k].range, PAGE_CAPS[k])])),
  evalIterations: capped(TRAIN_SETTINGS.iterations.range, PAGE_CAPS.iterations),
  figureEvery: { int: true, min: 1, max: 1_000_000 },
};

/** A numeric URL parameter's range (the page's controls check the same). */
export function urlRange(key: 'eta' | 'iterations' | 'evalIterations' | 'bases'): NumberRange {
  return RULES[key]!;
}

const MODELS = SEG_MODELS;
const KNOWN = ['model', 'autostart', 'benchN', ...Object.keys(RULES)];

/** The parameters of a query string; `errors` lists every bad one (the params then hold the defaults for those). */
export function parseParams(search: string): { params: PageParams; errors: string[] } {
  const q = new URLSearchParams(search);
  const errors: string[] = [];
  const params: PageParams = { model: TRAIN_SETTINGS.model.default, figureEvery: 10, autostart: false, benchN: [1024, 4096] };
  for (const key of new Set(q.keys())) {
    if (!KNOWN.includes(key)) errors.push(`unknown URL parameter '${key}' (known: ${KNOWN.join(', ')}).`);
    else if (q.getAll(key).length > 1) errors.push(`URL parameter '${key}' is given ${q.getAll(key).length} times; give it once.`);
  }
  const model = q.get('model');
  if (model !== null) {
    if ((MODELS as readonly string[]).includes(model)) params.model = model as PageModel;
    else errors.push(`model=${model}: choose one of ${MODELS.join(', ')}.`);
  }
  const autostart = q.get('autostart');
  if (autostart !== null) {
    if (autostart === '1' || autostart === 'true') params.autostart = true;
    else if (autostart === '0' || autostart === 'false') params.autostart = false;
    else errors.push(`autostart=${autostart}: use 1 or 0.`);
  }
  const bench = q.get('benchN');
  if (bench !== null) {
    const ns = bench.split(',').map((s) => Number(s.trim()));
    if (ns.length === 0 || ns.some((n) => !Number.isInteger(n) || n < 1 || n > 65536)) {
      errors.push(`benchN=${bench}: a comma-separated list of integers in [1, 65536], e.g. 1024,4096.`);
    } else params.benchN = ns;
  }
  for (const [key, rule] of Object.entries(RULES)) {
    const raw = q.get(key);
    if (raw === null) continue;
    const v = raw.trim() === '' ? NaN : Number(raw);
    if (!inRange(rule, v)) errors.push(`${key}=${raw}: must be ${rangeText(rule)}.`);
    else (params as unknown as Record<string, number>)[key] = v;
  }
  return { params, errors };
}
