// `patchwise generate`: greedy continuation of a prompt, to check a model end to end.
import type { CommandModule } from 'yargs';
import { UserError } from '../../core/errors.js';
import { loadModel } from '../../checkpoints/load.js';
import { greedyGenerate } from '../../runtime/generate.js';
import { PatchableModel } from '../../runtime/patchable-model.js';
import { loadTokenizer } from '../../tokenizer/load.js';

export const generateCommand: CommandModule<object, { model: string; prompt: string; tokens: number; ids: boolean }> = {
  command: 'generate <model>',
  describe: 'Greedy continuation of a prompt (an empty prompt starts from BOS)',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'model file or directory' })
      .option('prompt', { type: 'string', default: '', describe: 'prompt text' })
      .option('tokens', { type: 'number', default: 64, describe: 'number of tokens to generate' })
      .option('ids', { type: 'boolean', default: false, describe: 'also print the token ids' }),
  handler: async (argv) => {
    if (!Number.isInteger(argv.tokens) || argv.tokens < 0) throw new UserError(`--tokens must be a non-negative integer, got ${argv.tokens}`);
    const model = await loadModel(argv.model);
    const tokenizer = await loadTokenizer(argv.model);
    const start = tokenizer.bosId !== undefined ? [tokenizer.bosId] : [];
    const prompt = [...start, ...tokenizer.encode(argv.prompt)];
    if (prompt.length === 0) {
      throw new UserError(`${argv.model}: the tokenizer has no BOS token, so an empty prompt cannot start generation; pass --prompt`);
    }
    const pm = new PatchableModel(model);
    try {
      const ids = await greedyGenerate(pm, prompt, { tokens: argv.tokens });
      console.log(tokenizer.decode(ids));
      if (argv.ids) console.log(JSON.stringify(ids));
    } finally {
      await pm.release();
    }
  },
};
