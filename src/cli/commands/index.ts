// The table of CLI commands. Add a command by writing a module that exports a CommandModule and
// listing it here.
import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs command modules differ in their argv types
export const commands: CommandModule<object, any>[] = [];
