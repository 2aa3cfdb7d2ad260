// `patchwise model <info|init|pull>`: inspect, create and download models.
import { existsSync, readdirSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { UserError } from '../../core/errors.js';
import { ComponentGraph } from '../../graph/component-graph.js';
import { initModel, writeGpt2Hf, writeLlamaHf } from '../../synthetic/init.js';
import { loadModel } from '../../checkpoints/load.js';
import { getPreset, presetNames } from '../../synthetic/presets.js';
import { PULLABLE_MODELS, pullModel } from '../../checkpoints/pull.js';
import { parameterCount } from '../../model/types.js';
import { plant } from './plant.js';
import { describeTokenizer, loadTokenizer } from '../../tokenizer/load.js';
import { GPT2_VOCAB_SIZE, writeGpt2TokenizerFiles } from '../../tokenizer/gpt2-files.js';

const info: CommandModule<object, { path: string; json: boolean }> = {
  command: 'info <path>',
  describe: 'Architecture, parameter count and component-graph size of a model (.gguf file or Hugging Face directory)',
  builder: (y) =>
    y.positional('path', { type: 'string', demandOption: true, describe: 'model file or directory' }).option('json', { type: 'boolean', default: false, describe: 'print JSON instead of a table' }),
  handler: async (argv) => {
    const model = await loadModel(argv.path);
    const tokenizer = await loadTokenizer(argv.path);
    const c = model.config;
    const g = ComponentGraph.forModel(c);
    const summary = {
      path: argv.path,
      format: model.source.format,
      name: c.name,
      architecture: c.architecture,
      parameters: parameterCount(model.weights, c),
      dModel: c.dModel,
      layers: c.nLayers,
      heads: c.nHeads,
      kvHeads: c.nKvHeads,
      dHead: c.dHead,
      dMlp: c.dMlp,
      vocab: c.vocabSize,
      tokenizer: describeTokenizer(tokenizer),
      bos: c.bosTokenId ?? tokenizer?.bosId ?? 'none',
      maxPositions: c.maxPositions,
      norm: `${c.norm} (eps ${c.normEps})`,
      mlp: c.mlp,
      positions: c.positional === 'rope' ? `rope (theta ${c.ropeTheta})` : 'learned',
      tiedEmbeddings: c.tiedEmbeddings,
      senders: g.nSenders,
      receivers: g.nReceivers,
      edges: g.nEdges,
    };
    if (argv.json) {
      console.log(JSON.stringify(summary, null, 2));
      return;
    }
    const width = Math.max(...Object.keys(summary).map((k) => k.length));
    for (const [k, v] of Object.entries(summary)) {
      console.log(`${k.padEnd(width)}  ${typeof v === 'number' ? v.toLocaleString('en-US') : String(v)}`);
    }
  },
};

const init: CommandModule<object, { preset: string; seed: number; out: string; force: boolean }> = {
  command: 'init <preset>',
  describe: 'Write a randomly initialised model of a preset shape (GPT-2 presets in the Hugging Face GPT-2 layout)',
  builder: (y) =>
    y
      .positional('preset', { type: 'string', demandOption: true, choices: presetNames(), describe: 'model shape' })
      .option('seed', { type: 'number', default: 0, describe: 'random seed' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory' })
      .option('force', { type: 'boolean', default: false, describe: 'overwrite a non-empty output directory' }),
  handler: (argv) => {
    if (!Number.isInteger(argv.seed)) throw new UserError(`--seed must be an integer, got ${argv.seed}`);
    if (existsSync(argv.out) && readdirSync(argv.out).length > 0 && !argv.force) {
      throw new UserError(`${argv.out} is not empty; pass --force to overwrite`);
    }
    const preset = getPreset(argv.preset);
    const model = initModel(preset, argv.seed);
    (preset.architecture === 'gpt2' ? writeGpt2Hf : writeLlamaHf)(model, argv.out);
    // A GPT-2-vocabulary preset gets GPT-2's tokenizer files, so its tokenizer is explicit in the directory.
    const withTokenizer = preset.architecture === 'gpt2' && model.config.vocabSize === GPT2_VOCAB_SIZE;
    if (withTokenizer) writeGpt2TokenizerFiles(argv.out);
    const g = ComponentGraph.forModel(model.config);
    console.log(
      `wrote ${argv.preset} (seed ${argv.seed}, ${parameterCount(model.weights, model.config).toLocaleString('en-US')} parameters, ` +
        `${g.nEdges.toLocaleString('en-US')} edges) to ${argv.out}${withTokenizer ? ', with the GPT-2 tokenizer (vocab.json, merges.txt)' : ', without tokenizer files (prompts are token ids)'}`,
    );
  },
};

const pull: CommandModule<object, { name: string; out?: string }> = {
  command: 'pull <name>',
  describe: 'Download a GPT-2 checkpoint from the Hugging Face hub (the only command that uses the network)',
  builder: (y) =>
    y.positional('name', { type: 'string', demandOption: true, choices: Object.keys(PULLABLE_MODELS) }).option('out', { type: 'string', describe: 'output directory (default: models/<name>)' }),
  handler: async (argv) => {
    const out = argv.out ?? `models/${argv.name}`;
    const files = await pullModel(argv.name, out, { log: (l) => console.error(l) });
    for (const f of files) {
      const how = f.skipped ? 'already present' : f.verified ? 'sha256 verified' : 'downloaded (hub published no checksum)';
      console.log(`${f.path}  ${f.bytes.toLocaleString('en-US')} bytes  ${how}`);
    }
  },
};

export const modelCommand: CommandModule = {
  command: 'model <command>',
  describe: 'Inspect, create and download models',
  builder: (y: Argv) =>
    y
      .command(info as unknown as CommandModule)
      .command(init as unknown as CommandModule)
      .command(pull as unknown as CommandModule)
      .command(plant as unknown as CommandModule)
      .demandCommand(1, 'Give a model command: info, init or pull.'),
  handler: () => undefined,
};
