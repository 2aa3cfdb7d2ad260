// Node-level ACDC (whole heads and MLPs): every edge out of one sender is one decision, visited
// from the last sender back to `input`. The search itself is acdc.ts's.
import { acdcMethod } from './acdc.js';

export const acdcNodes = acdcMethod('acdc-nodes', 'node');
