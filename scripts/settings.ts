/**
 * The training settings (TRAIN_SETTINGS, src/train/config.ts) as JSON for the PyTorch twin:
 * python/hemgpu_twin/settings.json, which its checkpoint code and train_voc.py read instead of a
 * copy of the table. `npm run settings` rewrites the file; test/train/settings.test.ts fails when it is
 * stale.
 */
import { writeFileSync } from 'node:fs';
import { settingEntries } from '../src/train/config.ts';

export const SETTINGS_JSON_PATH = 'python/hemgpu_twin/settings.json';

/** The file's text: every setting in checkpoint order, with its field name. */
export function settingsJson(): string {
  const settings = settingEntries().map(([field, s]) => ({
    field,
    flag: s.flag,
    kind: s.kind,
    ...(s.kind === 'number' ? { range: s.range } : {}),
    ...(s.kind === 'choice' ? { choices: s.choices } : {}),
    default: s.default,
    training: s.training,
    ...(s.absent !== undefined ? { absent: s.absent } : {}),
    digitsOnly: s.digitsOnly ?? false,
    shapesModel: s.shapesModel ?? false,
    help: s.help,
  }));
  return `${JSON.stringify({ generated: 'by `npm run settings` from TRAIN_SETTINGS in src/train/config.ts; do not edit', settings }, null, 2)}\n`;
}

if (process.argv[1]?.endsWith('settings.mjs')) {
  writeFileSync(SETTINGS_JSON_PATH, settingsJson());
  console.log(`wrote ${SETTINGS_JSON_PATH}`);
}
