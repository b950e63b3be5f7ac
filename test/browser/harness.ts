/**
 * Headless Chromium for the browser tests and benchmarks: a static server over one folder, the
 * Chromium launch (Debian's chromium, WebGPU on SwiftShader with the flags of
 * ../shared/docs/environment.md) and a page whose console errors, page errors and crashes are
 * kept in `log` for failure messages.
 *
 * CHROMIUM overrides the browser's path. A missing browser fails with the install command.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** ../shared/docs/environment.md, "Chrome"; Playwright adds its own fresh temp --user-data-dir. */
export const CHROME_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

const BLANK_PAGE = '<!doctype html><meta charset="utf-8"><title>hemgpu browser checks</title><p>hemgpu</p>';

export interface StaticServer {
  origin: string;
  close(): Promise<void>;
}

/**
 * Serve the files directly inside `dir` (names of [\w.-], no subfolders unless `nested`) with
 * no-store caching; `/` is `html` (a blank page by default) unless `dir` has an index.html.
 */
export function serveStatic(dir: string, opts: { html?: string; nested?: boolean } = {}): Promise<StaticServer> {
  const html = opts.html ?? BLANK_PAGE;
  const pathOk = opts.nested ? /^\/(?:[\w.-]+\/)*[\w.-]+$/ : /^\/[\w.-]+$/;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (path === '/' || path === '/index.html') {
      let body: string | Buffer = html;
      try {
        body = readFileSync(join(dir, 'index.html'));
      } catch {
        body = html;
      }
      res.writeHead(200, { 'content-type': CONTENT_TYPES['.html']!, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    const file = pathOk.test(path) && !path.includes('..') ? join(dir, path.slice(1)) : '';
    const type = CONTENT_TYPES[extname(path)];
    let body: Buffer | null = null;
    try {
      if (file && type) body = readFileSync(file);
    } catch {
      body = null;
    }
    if (!body || !type) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () =>
      ok({
        origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    );
  });
}

/** Launch Chromium with CHROME_ARGS (plus `extraArgs`); a missing browser names the fix. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: [...CHROME_ARGS, ...extraArgs], timeout: 60_000 });
  } catch (err) {
    throw new Error(`could not start ${CHROMIUM} (install it: apt-get install -y chromium libvulkan1): ${(err as Error).message}`);
  }
}

/** A page with its log: console errors and warnings, page errors and crashes, in order. */
export interface LoggedPage {
  page: Page;
  /** Cleared by the caller (`log.length = 0`) at the start of each test. */
  log: string[];
  /** Everything the page said, for failure messages. */
  logText(): string;
  /** Evaluate `expr` (a JS expression, awaited) in the page; errors carry the page's log. */
  inPage<T>(expr: string): Promise<T>;
}

export async function openPage(browser: Browser, url: string): Promise<LoggedPage> {
  const page = await browser.newPage();
  const log: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const at = m.location().url ? ` (${m.location().url}:${m.location().lineNumber})` : '';
    log.push(`console.${m.type()}: ${m.text()}${at}`);
  });
  page.on('pageerror', (e) => log.push(`page error: ${e.stack ?? e.message}`));
  page.on('crash', () => log.push('the page crashed'));
  const logText = () => (log.length ? `\nbrowser log:\n  ${log.join('\n  ')}` : '\n(browser log empty)');
  const inPage = async <T>(expr: string): Promise<T> => {
    try {
      // A string, not a function: vitest's transform would rewrite import() inside a function.
      return (await page.evaluate(expr)) as T;
    } catch (err) {
      throw new Error(`in the page: ${(err as Error).message}${logText()}`);
    }
  };
  await page.goto(url);
  return { page, log, logText, inPage };
}
