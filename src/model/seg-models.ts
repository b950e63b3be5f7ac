/**
 * The segmentation models by name, and the EM unit each one uses — decided here only (SegNet
 * builds its unit from it, the CLI checks --eta against it, eval and the page describe a run by
 * it). A leaf module, with no engine code, so that a page's main thread can read it.
 */

export const SEG_MODELS = ['hemnet', 'emanet', 'pooling', 'plain'] as const;
export type SegModelName = (typeof SEG_MODELS)[number];

/**
 * A model's EM unit: `unit` 'hem' (the HEM layer), 'emau' (EMANet's unit) or null (no EM unit);
 * `eta`: 'config' when the unit takes the config's η, else the η it is by definition (null: none);
 * `bases`: 'config' when it has the config's K, else its fixed K.
 */
export interface EmUnitOfModel {
  unit: 'hem' | 'emau' | null;
  eta: 'config' | number | null;
  bases: 'config' | number | null;
  /** What the model is, in a few words (the CLI's help and the page). */
  what: string;
}

export const SEG_MODEL_UNITS: Record<SegModelName, EmUnitOfModel> = {
  hemnet: { unit: 'hem', eta: 'config', bases: 'config', what: "HEMNet's unit: HEM with the config's η, T and K" },
  emanet: { unit: 'emau', eta: 1, bases: 'config', what: "EMANet's unit: EM, η = 1 by definition" },
  pooling: { unit: 'hem', eta: 'config', bases: 1, what: 'the HEM unit with one base: global average pooling' },
  plain: { unit: null, eta: null, bases: null, what: 'no EM unit' },
};

/** Whether `model`'s EM unit takes the config's η (hemnet and pooling). */
export function takesEta(model: SegModelName): boolean {
  return SEG_MODEL_UNITS[model].eta === 'config';
}

/** The η `model`'s EM unit runs with under a config whose η is `configEta` (null: no EM unit). */
export function unitEta(model: SegModelName, configEta: number): number | null {
  const eta = SEG_MODEL_UNITS[model].eta;
  return eta === 'config' ? configEta : eta;
}
