// `patchwise generate`: greedy continuation of a prompt, to check a model end to end.
import type { CommandModule } from 'yargs';
import { UserError } from '../../core/errors.js';
import { loadModel } from '../../checkpoints/load.js';
import { greedyGenerate } from '../../runtime/generate.js';
import { PatchableModel } from '../../runtime/patchable-model.js';
import { loadTokenizer, noTokenizerError } from '../../tokenizer/load.js';

interface GenerateArgs {
  model: string;
  prompt?: string;
  promptIds?: string;
  tokens: number;
  ids: boolean;
}

/** `--prompt-ids "0 17 3"` (spaces or commas): token ids, each inside the vocabulary. */
export function parsePromptIds(text: string, vocabSize: number): number[] {
  const parts = text.split(/[\s,]+/).filter((p) => p !== '');
  return parts.map((p) => {
    const id = Number(p);
    if (!/^\d+$/.test(p) || id >= vocabSize) throw new UserError(`--prompt-ids: ${JSON.stringify(p)} is not a token id of the model (0..${vocabSize - 1})`);
    return id;
  });
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate <model>',
  describe: "Greedy continuation of a prompt (an empty prompt starts from BOS: the tokenizer's, or else config.json's bos_token_id)",
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'model file or directory' })
      .option('prompt', { type: 'string', describe: "prompt text (needs the model's tokenizer)" })
      .option('prompt-ids', { type: 'string', describe: 'prompt as token ids, e.g. "0 17 3" (no tokenizer needed; given verbatim, no BOS added)' })
      .option('tokens', { type: 'number', default: 64, describe: 'number of tokens to generate' })
      .option('ids', { type: 'boolean', default: false, describe: 'also print the token ids (always printed, alone, for a model without a tokenizer)' })
      .conflicts('prompt-ids', 'prompt'),
  handler: async (argv) => {
    if (!Number.isInteger(argv.tokens) || argv.tokens < 0) throw new UserError(`--tokens must be a non-negative integer, got ${argv.tokens}`);
    const model = await loadModel(argv.model);
    const tokenizer = await loadTokenizer(argv.model);
    let prompt: number[];
    if (argv.promptIds !== undefined) prompt = parsePromptIds(argv.promptIds, model.config.vocabSize);
    else if (argv.prompt === undefined || argv.prompt === '') {
      const bos = tokenizer?.bosId ?? model.config.bosTokenId;
      prompt = bos === undefined ? [] : [bos];
    } else {
      if (tokenizer === undefined) throw noTokenizerError(argv.model, 'the prompt (--prompt)');
      prompt = [...(tokenizer.bosId === undefined ? [] : [tokenizer.bosId]), ...tokenizer.encode(argv.prompt)];
    }
    if (prompt.length === 0) {
      throw new UserError(`${argv.model}: neither the tokenizer nor config.json names a BOS token, so an empty prompt cannot start generation; pass --prompt or --prompt-ids`);
    }
    const pm = new PatchableModel(model);
    try {
      const ids = await greedyGenerate(pm, prompt, { tokens: argv.tokens });
      if (tokenizer !== undefined) console.log(tokenizer.decode(ids));
      if (argv.ids || tokenizer === undefined) console.log(JSON.stringify(ids));
    } finally {
      await pm.release();
    }
  },
};
