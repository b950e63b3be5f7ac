/** hemgpu's version (package.json's; test/package.test.ts keeps them equal): tuning records carry it. */
export const HEMGPU_VERSION = '0.1.0';
