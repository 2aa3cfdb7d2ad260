// The table of CLI commands. Add a command by writing a module that exports a CommandModule and
// listing it here.
import type { CommandModule } from 'yargs';
import { generateCommand } from './generate.js';
import { modelCommand } from './model.js';

export const commands: readonly CommandModule[] = [modelCommand, generateCommand as unknown as CommandModule];
