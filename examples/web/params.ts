/**
 * The page's URL parameters (for sharing a set-up and for the tests), parsed and validated:
 * every problem is collected, named with the parameter, the value and what is allowed, and shown
 * on the page; the page then trains nothing until the URL is fixed.
 *   ?model=emanet&steps=6&trainScenes=16&valScenes=8&autostart=1
 */
import type { SegModelName } from '../../src/model/segnet.ts';

export type PageModel = SegModelName;

/** What the URL may set; absent values fall back to the demo's recipe (demoConfig). */
export interface PageParams {
  model: PageModel;
  steps?: number;
  trainScenes?: number;
  valScenes?: number;
  batch?: number;
  seed?: number;
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

interface IntRule {
  kind: 'int';
  min: number;
  max: number;
}
interface NumRule {
  kind: 'num';
  /** Open lower bound, closed upper bound. */
  above: number;
  max: number;
}
type Rule = IntRule | NumRule;

const RULES: Record<string, Rule> = {
  steps: { kind: 'int', min: 1, max: 1_000_000 },
  trainScenes: { kind: 'int', min: 1, max: 100_000 },
  valScenes: { kind: 'int', min: 1, max: 10_000 },
  batch: { kind: 'int', min: 1, max: 256 },
  seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
  lr: { kind: 'num', above: 0, max: 10 },
  warmup: { kind: 'int', min: 0, max: 1_000_000 },
  evalEvery: { kind: 'int', min: 0, max: 1_000_000 },
  eta: { kind: 'num', above: 0, max: 1 },
  iterations: { kind: 'int', min: 1, max: 20 },
  evalIterations: { kind: 'int', min: 1, max: 20 },
  bases: { kind: 'int', min: 1, max: 512 },
  figureEvery: { kind: 'int', min: 1, max: 1_000_000 },
};

/**
 * segnet.ts's SEG_MODELS, in its order, listed here: a value import of segnet.ts would bundle the
 * engine into the page's main thread. The Record makes a model missing here (or unknown) a compile error.
 */
const MODEL_SET: Record<PageModel, true> = { hemnet: true, emanet: true, pooling: true, plain: true };
const MODELS = Object.keys(MODEL_SET) as PageModel[];
const KNOWN = ['model', 'autostart', 'benchN', ...Object.keys(RULES)];

function describe(rule: Rule): string {
  return rule.kind === 'int' ? `an integer in [${rule.min}, ${rule.max}]` : `a number in (${rule.above}, ${rule.max}]`;
}

/** The parameters of a query string; `errors` lists every bad one (the params then hold the defaults for those). */
export function parseParams(search: string): { params: PageParams; errors: string[] } {
  const q = new URLSearchParams(search);
  const errors: string[] = [];
  const params: PageParams = { model: 'hemnet', figureEvery: 10, autostart: false, benchN: [1024, 4096] };
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
    const ok = rule.kind === 'int' ? Number.isInteger(v) && v >= rule.min && v <= rule.max : Number.isFinite(v) && v > rule.above && v <= rule.max;
    if (!ok) errors.push(`${key}=${raw}: must be ${describe(rule)}.`);
    else (params as unknown as Record<string, number>)[key] = v;
  }
  return { params, errors };
}
