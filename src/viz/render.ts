/**
 * Headless rendering of Vega-Lite specs (Node only): vega-lite compiles the spec, vega renders it
 * to SVG without a canvas, resvg rasterises the SVG to PNG. vega and resvg (a native binary) are
 * loaded on first use, so importing hemgpu neither pays for them nor needs them. Text is set in
 * DejaVu Sans, loaded from its file, so the pixels do not depend on the machine's other fonts
 * (Debian: fonts-dejavu-core); without it, the system's fonts are used and a warning says so.
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { makeDirectory } from '../io/make-directory.ts';
import { dirname } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { ChartSpec } from './spec.ts';
import { checkOptions, optionKeys } from '../tensor/options.ts';

/** Where DejaVu Sans lives on Debian/Ubuntu, Fedora and Arch. */
const DEJAVU_DIRS = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/dejavu-sans-fonts', '/usr/share/fonts/dejavu', '/usr/share/fonts/TTF'];
const CHART_FONT_FAMILY = 'DejaVu Sans';

let fontFiles: string[] | null = null;

/** The font files charts are set in ([] when DejaVu Sans is absent: system fonts, with a warning). */
function chartFontFiles(): string[] {
  if (fontFiles) return fontFiles;
  const dir = DEJAVU_DIRS.find((d) => existsSync(`${d}/DejaVuSans.ttf`));
  if (dir) {
    fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => `${dir}/${f}`).filter((p) => existsSync(p));
  } else {
    fontFiles = [];
    console.warn('hemgpu: DejaVu Sans not found (Debian: apt-get install fonts-dejavu-core); charts use the system fonts, so their pixels depend on the machine.');
  }
  return fontFiles;
}

/**
 * A package that only the figures need (vega, vega-lite, @resvg/resvg-js: optional peer
 * dependencies, so that installing hemgpu does not install them), or an error that says how to
 * install them.
 */
async function figurePackage<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw new Error(
      `hemgpu: drawing figures needs the package '${name}', which is not installed (${(err as Error).message.split('\n')[0]}). ` +
        'Install the figure packages beside hemgpu: npm install vega vega-lite @resvg/resvg-js',
    );
  }
}

/** The SVG text of a Vega-Lite spec. */
export async function chartSvg(spec: ChartSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([figurePackage('vega', () => import('vega')), figurePackage('vega-lite', () => import('vega-lite'))]);
  const view = new vega.View(vega.parse(vegaLite.compile(spec as TopLevelSpec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG text to PNG bytes at `scale` pixels per SVG unit. */
export async function svgToPng(svg: string, scale = 1): Promise<Buffer> {
  const { Resvg } = await figurePackage('@resvg/resvg-js', () => import('@resvg/resvg-js'));
  const files = chartFontFiles();
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: files.length ? { loadSystemFonts: false, fontFiles: files, defaultFontFamily: CHART_FONT_FAMILY, sansSerifFamily: CHART_FONT_FAMILY } : { loadSystemFonts: true },
  });
  return resvg.render().asPng();
}

/** Writes bytes or text to `path`, creating the folder; atomic (temp file, then rename). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  makeDirectory(dirname(path));
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** The path of the SVG written beside a chart's PNG: a.png → a.svg. */
function svgPathOf(pngPath: string): string {
  return pngPath.replace(/\.png$/i, '') + '.svg';
}

/** Renders a spec to `path` (PNG) and, unless `svg` is false, its SVG beside it. */
export async function writeChart(path: string, spec: ChartSpec, options: { svg?: boolean; scale?: number } = {}): Promise<void> {
  checkOptions('writeChart', options, optionKeys<NonNullable<Parameters<typeof writeChart>[2]>>({ svg: true, scale: true }));
  const svg = await chartSvg(spec);
  writeFileAtomic(path, await svgToPng(svg, options.scale ?? 1));
  if (options.svg ?? true) writeFileAtomic(svgPathOf(path), svg);
}
