// The table of CLI commands. Add a command by writing a module that exports a CommandModule and
// listing it here.
import type { CommandModule } from 'yargs';
import { generateCommand } from './generate.js';
import { modelCommand } from './model.js';
import { pathPatchCommand } from './path-patch.js';
import { circuitCommand } from './circuit.js';
import { compareCommand } from './compare.js';
import { resultsCommand } from './results.js';
import { runCommand } from './run.js';
import { showCommand } from './show.js';
import { tasksCommand } from './tasks.js';
import { vizCommand } from './viz.js';

export const commands: readonly CommandModule[] = [
  modelCommand,
  generateCommand as unknown as CommandModule,
  runCommand as unknown as CommandModule,
  pathPatchCommand as unknown as CommandModule,
  resultsCommand as unknown as CommandModule,
  showCommand as unknown as CommandModule,
  compareCommand as unknown as CommandModule,
  tasksCommand as unknown as CommandModule,
  circuitCommand,
  vizCommand,
];
