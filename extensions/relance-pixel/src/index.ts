// Entry point of the Relance web pixel (see pixel.ts).
import {register} from '@shopify/web-pixels-extension';
import {pixel} from './pixel';

register((api) =>
  pixel(api, {
    fetch: (url, init) => fetch(url, init),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (t) => clearTimeout(t),
  }),
);
