/**
 * The dashboard's fixed files: its page and script (strings in this package, page.ts) and the
 * uPlot library (the `uplot` npm package's dist/ files). A fixed table from URL path to content:
 * no part of a URL is ever joined into a file path.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PAGE_HTML } from './pageHtml.ts';
import { PAGE_SCRIPT } from './pageScript.ts';

export interface Asset {
  type: string;
  body: Buffer;
}

/** Headers of every response: no framing (the stop button), no sniffing, nothing from elsewhere. */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

function uplotFile(name: string): Buffer {
  const dir = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  return readFileSync(join(dir, name));
}

let assets: Map<string, Asset> | undefined;

/** The asset served at `pathname`, or undefined. The table is built on first use. */
export function assetAt(pathname: string): Asset | undefined {
  assets ??= new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: Buffer.from(PAGE_HTML) }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(PAGE_SCRIPT) }],
    ['/uplot.js', { type: 'text/javascript; charset=utf-8', body: uplotFile('uPlot.iife.min.js') }],
    ['/uplot.css', { type: 'text/css; charset=utf-8', body: uplotFile('uPlot.min.css') }],
  ]);
  return assets.get(pathname);
}
