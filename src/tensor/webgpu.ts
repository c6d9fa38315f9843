/**
 * Brings up tfjs's WebGPU backend in Node from npm packages alone: Dawn's Node bindings (the
 * optional `webgpu` package, binaries inside its tarball) and `@tensorflow/tfjs-backend-webgpu`
 * (optional too). Node has no `navigator.gpu`, so a small shim hands tfjs the Dawn GPU object.
 *
 * Adapters are tried in order: Dawn's default (Vulkan, Metal or D3D: a real GPU), then Dawn's
 * OpenGL-ES backend at the "compatibility" feature level over EGL, which on a headless Linux
 * machine with Mesa is the llvmpipe software renderer (Debian: libegl-dev, for the libEGL.so that
 * Dawn loads, libegl-mesa0, libgl1-mesa-dri). The software adapter is for correctness checks, not
 * speed. On Linux, Dawn reaches a real GPU through Vulkan: the loader (Debian: libvulkan1) and
 * the driver's ICD must be installed.
 */
import * as tf from '@tensorflow/tfjs';
import { installDawnPump, patchReadSync, uninstallDawnPump } from './webgpuSync.ts';
import { fixAddN, watchDeviceErrors } from './webgpuFixes.ts';

/** What was found: the adapter's name, whether it renders in software, and which Dawn path. */
export interface WebGpuAdapter {
  name: string;
  software: boolean;
  via: 'default' | 'opengles';
}

export type WebGpuResult = { ok: true; adapter: WebGpuAdapter } | { ok: false; reason: string };

/** The slice of Dawn's `webgpu` module used here (its own types need `@webgpu/types`). */
interface DawnModule {
  create: (flags: string[]) => Gpu;
  globals: Record<string, unknown>;
}
interface Gpu {
  requestAdapter: (o?: Record<string, unknown>) => Promise<Adapter | null>;
}
interface AdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface Adapter {
  info?: AdapterInfo;
}

/** A Dawn GPU object with the request options that make it yield the adapter we chose. */
interface Found {
  gpu: Gpu;
  options: Record<string, unknown>;
  adapter: Adapter;
  via: WebGpuAdapter['via'];
}

// Software rasterizers / fallback devices, as they name themselves in adapter info.
const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;

/** Name and software-ness of an adapter from its `info` (Dawn fills `device` and `description`). */
export function describeAdapterInfo(info: AdapterInfo | undefined, via: WebGpuAdapter['via']): WebGpuAdapter {
  const i = info ?? {};
  const parts = [i.device, i.description].filter((s): s is string => !!s && s.length > 0);
  const name = parts.length > 0 ? parts.join(', ') : [i.vendor, i.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  const software = i.isFallbackAdapter === true || SOFTWARE.test([i.vendor, i.architecture, i.device, i.description].join(' '));
  return { name, software, via };
}

/** The adapter part of the CLI's `backend:` line, e.g. `llvmpipe-…, OpenGL version OpenGL ES 3.2 Mesa 22.3.6 via Dawn OpenGL ES; software renderer: …`. */
export function adapterLine(a: WebGpuAdapter): string {
  const how = a.via === 'opengles' ? 'Dawn OpenGL ES' : 'Dawn';
  return `${a.name} via ${how}${a.software ? '; software renderer: for correctness checks, not speed' : ''}`;
}

async function loadDawn(): Promise<DawnModule | string> {
  try {
    const pkg = 'webgpu'; // a variable, so that type-checking does not need the optional package
    return (await import(/* @vite-ignore */ pkg)) as DawnModule;
  } catch (e) {
    return `the optional package 'webgpu' could not be loaded (${(e as Error).message.split('\n')[0]}); npm install webgpu`;
  }
}

async function tryAdapter(dawn: DawnModule, flags: string[], options: Record<string, unknown>, via: Found['via']): Promise<Found | null> {
  try {
    const gpu = dawn.create(flags);
    const adapter = await gpu.requestAdapter(options);
    return adapter ? { gpu, options, adapter, via } : null;
  } catch {
    return null;
  }
}

/**
 * Dawn's default adapter (Vulkan, Metal, D3D), else, unless `hardwareOnly`, its OpenGL-ES one at
 * the compatibility level. `hardwareOnly` also refuses a software default adapter.
 */
async function findAdapter(dawn: DawnModule, hardwareOnly: boolean): Promise<Found | null> {
  const native = await tryAdapter(dawn, [], {}, 'default');
  if (hardwareOnly) return native && !describeAdapterInfo(native.adapter.info, 'default').software ? native : null;
  if (native) return native;
  // Mesa's EGL needs a platform when there is no X or Wayland display; surfaceless renders offscreen.
  const setPlatform = process.env.EGL_PLATFORM === undefined;
  if (setPlatform) process.env.EGL_PLATFORM = 'surfaceless';
  const gles = await tryAdapter(dawn, ['backend=opengles'], { featureLevel: 'compatibility' }, 'opengles');
  if (!gles && setPlatform) delete process.env.EGL_PLATFORM;
  return gles;
}

/**
 * Installs Dawn's WebGPU globals (GPUBufferUsage…) and `navigator.gpu`, whose requestAdapter
 * always asks Dawn with our options (tfjs asks only for a power preference, which would miss the
 * compatibility-level adapter).
 */
function installNavigator(dawn: DawnModule, found: Found): void {
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v;
  const gpu: Gpu = { requestAdapter: (o) => found.gpu.requestAdapter({ ...o, ...found.options }) };
  const nav = g.navigator as Record<string, unknown> | undefined;
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

const NO_ADAPTER =
  'no WebGPU adapter found: for a GPU, Dawn needs the Vulkan loader (Debian: libvulkan1) and the GPU driver; ' +
  "for the software renderer, Mesa's EGL (Debian: libegl-dev libegl-mesa0 libgl1-mesa-dri; Dawn loads libEGL.so)";

let active: WebGpuAdapter | null = null;
let patched = false;

/** The adapter behind the active `webgpu` backend, or null when it is not in use. */
export function webGpuAdapter(): WebGpuAdapter | null {
  return tf.getBackend() === 'webgpu' ? active : null;
}

/**
 * Tries to make `webgpu` the active tfjs backend. `hardwareOnly` (what `auto` asks) accepts only
 * a hardware adapter from Dawn's default backend. Never throws: on failure it says why.
 */
export async function useWebGpu(opts: { hardwareOnly: boolean }): Promise<WebGpuResult> {
  const dawn = await loadDawn();
  if (typeof dawn === 'string') return { ok: false, reason: dawn };
  installDawnPump(); // before any Dawn instance exists, so that its event processing is seen
  const found = await findAdapter(dawn, opts.hardwareOnly);
  if (!found) {
    uninstallDawnPump();
    const what = opts.hardwareOnly ? 'no hardware WebGPU adapter found' : NO_ADAPTER;
    return { ok: false, reason: what };
  }
  try {
    installNavigator(dawn, found);
    // tfjs-backend-webgpu registers itself on import only if navigator.gpu exists by then.
    const pkg = '@tensorflow/tfjs-backend-webgpu';
    const backend = (await import(/* @vite-ignore */ pkg)) as { WebGPUBackend: { prototype: Parameters<typeof patchReadSync>[0] } };
    if (!patched) patchReadSync(backend.WebGPUBackend.prototype, dawn.globals);
    patched = true;
    fixAddN();
    if (!tf.findBackendFactory('webgpu')) return { ok: false, reason: "'@tensorflow/tfjs-backend-webgpu' loaded but did not register (navigator.gpu missing?)" };
    if (!(await tf.setBackend('webgpu'))) return { ok: false, reason: 'tfjs could not initialise the webgpu backend on this adapter' };
    watchDeviceErrors((tf.backend() as unknown as { device: Parameters<typeof watchDeviceErrors>[0] }).device);
  } catch (e) {
    return { ok: false, reason: `the webgpu backend failed to start: ${(e as Error).message.split('\n')[0]}` };
  }
  active = describeAdapterInfo(found.adapter.info, found.via);
  return { ok: true, adapter: active };
}
