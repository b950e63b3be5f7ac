/**
 * Node provider: Dawn through the `webgpu` package. Only the Node entry point imports this file.
 *
 * Order of attempts for adapter 'auto': the system's Vulkan drivers (a real GPU), then the
 * SwiftShader CPU driver that Debian's chromium package ships, selected through the Vulkan
 * loader's VK_ICD_FILENAMES before the Dawn instance that uses it is created.
 */
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { AdapterRequest, GpuProvider, InitOptions } from './provider.ts';
import { checkPolling, checkSubgroups, isSoftwareAdapter } from './provider.ts';
import { sleepWhileWaiting } from './dawn-polling.ts';

type DawnCreate = (flags: string[]) => GPU;

const SWIFTSHADER_ICDS = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json', '/opt/google/chrome/vk_swiftshader_icd.json'];

const FIX =
  'To fix: on a machine with a GPU, install its Vulkan driver and the Vulkan loader ' +
  '(Debian/Ubuntu: apt-get install libvulkan1 plus the vendor driver). On a machine without a GPU, ' +
  'install the SwiftShader CPU driver: apt-get install -y libvulkan1 chromium ' +
  '(or set HEMGPU_SWIFTSHADER_ICD to a vk_swiftshader_icd.json).';

function findSwiftShaderIcd(): string | null {
  const fromEnv = process.env.HEMGPU_SWIFTSHADER_ICD;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  return SWIFTSHADER_ICDS.find((p) => existsSync(p)) ?? null;
}

/** Whether this machine shows any GPU device node (DRM render nodes, NVIDIA's device files). */
function gpuDeviceNodesPresent(): boolean {
  if (process.platform !== 'linux') return true;
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return true;
  try {
    if (readdirSync('/dev/dri').some((f) => f.startsWith('renderD'))) return true;
  } catch {
    // no /dev/dri
  }
  return existsSync('/dev/nvidia0') || existsSync('/dev/dxg');
}

function vulkanLoaderPresent(): boolean {
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/lib/x86_64-linux-gnu',
    '/usr/local/lib',
  ];
  return dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
}

let dawn: Promise<DawnCreate> | null = null;
/**
 * Dawn's `create`, from the `webgpu` package, imported on first use: a peer dependency that only
 * Node needs (a browser bundle never installs its binaries), so its absence is an error that says
 * how to install it. WebGPU's enum-like globals (GPUBufferUsage, GPUMapMode, ...) are installed for
 * code written against the browser API.
 */
function loadDawn(): Promise<DawnCreate> {
  dawn ??= import('webgpu').then(
    ({ create, globals }) => {
      for (const [k, v] of Object.entries(globals as Record<string, unknown>)) {
        if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      }
      return create as DawnCreate;
    },
    (err: unknown) => {
      dawn = null;
      throw new Error(
        `hemgpu: WebGPU under Node runs on Dawn from the 'webgpu' package, which is not installed (${(err as Error).message.split('\n')[0]}). ` +
          'Install it beside hemgpu: npm install webgpu (a browser needs no package: it has WebGPU).',
      );
    },
  );
  return dawn;
}

/** Keeps every Dawn instance reachable while its device is in use. */
const instances: GPU[] = [];

async function tryAdapter(flags: string[], power: GPUPowerPreference): Promise<GPUAdapter | null> {
  const gpu = (await loadDawn())(flags);
  const adapter = await gpu.requestAdapter({ powerPreference: power });
  if (adapter) instances.push(gpu);
  return adapter;
}

export const nodeProvider: GpuProvider = {
  platform: 'node',

  resolveOptions(options: InitOptions): Required<InitOptions> {
    const envAdapter = process.env.HEMGPU_ADAPTER;
    const adapter = options.adapter ?? (envAdapter as InitOptions['adapter']) ?? 'auto';
    if (!['auto', 'gpu', 'swiftshader'].includes(adapter)) {
      throw new Error(`hemgpu init: unknown adapter '${adapter}' (from ${options.adapter ? 'options.adapter' : 'HEMGPU_ADAPTER'}); ` + "use 'auto', 'gpu' or 'swiftshader'.");
    }
    const envRobust = process.env.HEMGPU_ROBUSTNESS ?? '';
    const fromEnv = new Map<string, boolean | 'auto'>([
      ['', 'auto'],
      ['auto', 'auto'],
      ['on', true],
      ['1', true],
      ['off', false],
      ['0', false],
    ]).get(envRobust);
    if (fromEnv === undefined) {
      throw new Error(`hemgpu init: HEMGPU_ROBUSTNESS='${envRobust}' is not a valid value; use auto, on or off (or 1 / 0), or unset it.`);
    }
    const icdEnv = process.env.HEMGPU_SWIFTSHADER_ICD;
    if (icdEnv && !existsSync(icdEnv)) {
      throw new Error(
        `hemgpu init: HEMGPU_SWIFTSHADER_ICD=${icdEnv} does not exist. Point it at a vk_swiftshader_icd.json ` +
          `(chromium installs ${SWIFTSHADER_ICDS[0]}) or unset it to search ${SWIFTSHADER_ICDS.join(', ')}.`,
      );
    }
    const robustness = options.robustness ?? fromEnv;
    if (robustness !== true && robustness !== false && robustness !== 'auto') {
      throw new Error(`hemgpu init: robustness must be true, false or 'auto', got ${String(robustness)}.`);
    }
    const envPolling = process.env.HEMGPU_POLLING ?? '';
    if (!['', 'auto', 'spin', 'sleep'].includes(envPolling)) {
      throw new Error(`hemgpu init: HEMGPU_POLLING='${envPolling}' is not a valid value; use auto, spin or sleep, or unset it.`);
    }
    const polling = checkPolling(options.polling ?? (envPolling || undefined));
    return { adapter, robustness, powerPreference: options.powerPreference ?? 'high-performance', subgroups: checkSubgroups(options.subgroups), polling };
  },

  async requestAdapter(opts: Required<InitOptions>): Promise<AdapterRequest> {
    process.env.XDG_RUNTIME_DIR ??= tmpdir();
    // 'auto': robust on GPU drivers, not on the CPU driver (where an out-of-bounds access could
    // only crash this process, and the clamping halves the speed).
    const robustFor = (software: boolean): boolean => (opts.robustness === 'auto' ? !software : opts.robustness);
    const flagsFor = (software: boolean): string[] => (robustFor(software) ? [] : ['enable-dawn-features=disable_robustness']);
    const tried: string[] = [];
    const loader = vulkanLoaderPresent();

    const hardware = gpuDeviceNodesPresent();
    if (opts.adapter === 'auto' && !hardware) {
      tried.push('system drivers: skipped, no GPU device node (/dev/dri/renderD*, /dev/nvidia0)');
    } else if (opts.adapter !== 'swiftshader') {
      const adapter = await tryAdapter(flagsFor(false), opts.powerPreference);
      if (adapter && !(opts.adapter === 'gpu' && isSoftwareAdapter(adapter.info))) {
        return { adapter, tried, via: 'dawn (system drivers)', robustness: robustFor(false) };
      }
      tried.push(
        adapter
          ? `system drivers: only a software adapter (${adapter.info.description}) but HEMGPU_ADAPTER=gpu`
          : `system drivers: no adapter${loader ? '' : ' (the Vulkan loader libvulkan.so.1 is not installed)'}`,
      );
      if (opts.adapter === 'gpu') {
        throw new Error(`hemgpu init: no GPU adapter found. Tried: ${tried.join('; ')}. ${FIX}`);
      }
    }

    const icd = findSwiftShaderIcd();
    if (!icd) {
      tried.push(`SwiftShader: no vk_swiftshader_icd.json in ${SWIFTSHADER_ICDS.join(', ')}`);
      throw new Error(`hemgpu init: no WebGPU adapter found. Tried: ${tried.join('; ')}. ${FIX}`);
    }
    // The Vulkan loader reads this when Dawn creates its instance, i.e. at create().
    process.env.VK_ICD_FILENAMES = icd;
    const adapter = await tryAdapter(flagsFor(true), opts.powerPreference);
    if (adapter) return { adapter, tried, via: `dawn/vulkan (SwiftShader ICD ${icd})`, robustness: robustFor(true) };
    tried.push(`SwiftShader ICD ${icd}: no adapter${loader ? '' : ' (libvulkan.so.1 missing)'}`);
    throw new Error(`hemgpu init: no WebGPU adapter found. Tried: ${tried.join('; ')}. ${FIX}`);
  },

  waiter(polling, software) {
    const mode = polling === 'auto' ? (software ? 'sleep' : 'spin') : polling;
    return { mode, wait: mode === 'sleep' ? sleepWhileWaiting : (p) => p };
  },
};
