// Entry point of the `patchwise` command. Each command lives in its own module under commands/ and
// is registered in the table below.
import yargs from 'yargs';
import { commands } from './commands/index.js';
import { UserError } from '../core/errors.js';

export async function main(argv: string[]): Promise<void> {
  const cli = yargs(argv)
    .scriptName('patchwise')
    .usage('$0 <command> [options]\n\nActivation patching and circuit discovery for transformer language models.')
    .strict()
    .demandCommand(1, 'Give a command; see the list above.')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err, y) => {
      if (err) throw err;
      y.showHelp();
      console.error(`\n${msg}`);
      process.exit(1);
    });
  for (const c of commands) cli.command(c);
  try {
    await cli.parseAsync();
  } catch (e) {
    // Expected failures (bad files, bad input) print one line; anything else is a bug and keeps its stack.
    if (e instanceof UserError) {
      console.error(`patchwise: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
}
