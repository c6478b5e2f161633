// Loads the C++ addon. The bundle ships it beside itself (dist/tapvs.node); a source
// checkout finds it in addon/build/Release.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from './backend.js';
import { checkNativeLayout, type LayoutOptions, type NativeLayoutConstants } from './layout.js';

export interface NativeModule {
  Engine: new (options: LayoutOptions, onWake: () => void) => Backend;
  layout: NativeLayoutConstants;
}

let loaded: NativeModule | undefined;

export function loadNative(): NativeModule {
  if (loaded) return loaded;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.TAPVS_ADDON,
    join(here, 'tapvs.node'),
    join(here, '../../addon/build/Release/tapvs.node'),
    join(here, '../addon/build/Release/tapvs.node'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`tapvs addon not found (looked in ${candidates.join(', ')}): run \`npm run build\``);
  }
  const native = createRequire(import.meta.url)(found) as NativeModule;
  checkNativeLayout(native.layout);
  loaded = native;
  return loaded;
}
