/**
 * The interop vectors, for the tests: the kit's (testing/vectors.ts, shipped as mip4/testing),
 * one copy in testing/interop-vectors.json.
 */
import { INTEROP_VECTORS_URL, interopVectors } from '../../testing/vectors.js';

export type { InteropKey, InteropVector } from '../../testing/vectors.js';
export const VECTORS_PATH = INTEROP_VECTORS_URL;
export const loadVectors = interopVectors;
