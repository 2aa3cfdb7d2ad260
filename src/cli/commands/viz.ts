// `patchwise viz build --db <db> --out <dir>` and `patchwise viz serve <dir>`: the static web viewer.
import type { Argv, CommandModule } from 'yargs';
import { UserError } from '../../core/errors.js';
import { serveSite } from '../../viz-export/serve.js';
import { buildSite } from '../../viz-export/site.js';

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

const build: CommandModule<object, { db: string; out: string; pipeline?: string; minify: boolean; writes: boolean }> = {
  command: 'build',
  describe: 'Write a self-contained static site (HTML, bundled JS and CSS, data files) from the database',
  builder: (y) =>
    y
      .option('db', { type: 'string', default: 'patchwise.db', describe: 'results database' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder (created; a previous build there is replaced)' })
      .option('pipeline', { type: 'string', describe: 'only the runs and circuits of this pipeline' })
      .option('minify', { type: 'boolean', default: true, describe: 'minify the bundled viewer (--no-minify to debug it)' })
      .option('writes', { type: 'boolean', default: true, describe: "compute what each node writes (loads each circuit's model and runs it once; --no-writes skips it)" }),
  handler: async (argv) => {
    const r = await buildSite({ db: argv.db, out: argv.out, pipeline: argv.pipeline, minify: argv.minify, writes: argv.writes });
    const data = r.files.filter((f) => f.path.startsWith('data/')).reduce((a, f) => a + f.bytes, 0);
    const app = r.files.filter((f) => !f.path.startsWith('data/')).reduce((a, f) => a + f.bytes, 0);
    console.log(
      `wrote ${r.out}: ${r.index.runs.length} runs, ${r.index.circuits.length} circuits, ${r.index.curves.length} curves; ` + `data ${kib(data)}, viewer ${kib(app)} (${r.seconds.toFixed(1)} s)`,
    );
    console.log(`open ${r.out}/index.html in a browser, or run: patchwise viz serve ${r.out}`);
  },
};

const serve: CommandModule<object, { dir: string; port: number }> = {
  command: 'serve <dir>',
  describe: 'Serve a built site on 127.0.0.1 (Ctrl-C stops)',
  builder: (y) =>
    y.positional('dir', { type: 'string', demandOption: true, describe: 'folder written by viz build' }).option('port', { type: 'number', default: 8080, describe: 'port (0 = any free port)' }),
  handler: async (argv) => {
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) throw new UserError(`--port must be an integer from 0 to 65535, got ${argv.port}`);
    const s = await serveSite(argv.dir, { port: argv.port });
    console.log(`serving ${argv.dir} at ${s.url}`);
    // Serve until interrupted.
    await new Promise<void>((done) => {
      const stop = (): void => {
        void s.close().then(done);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};

export const vizCommand: CommandModule = {
  command: 'viz <command>',
  describe: 'Build and serve the static web viewer of circuits and patching results',
  builder: (y: Argv) =>
    y
      .command(build as unknown as CommandModule)
      .command(serve as unknown as CommandModule)
      .demandCommand(1, 'Give a viz command: build or serve.'),
  handler: () => undefined,
};
