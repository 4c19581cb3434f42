import { main as serve } from '../main.js';
import { runGenerate } from './generate-command.js';

const USAGE = `usage: offerloop <command> [options]

commands:
  serve                     start the server (configured by environment variables; see README)
  generate --offers N --customers M --out DIR [--affinities K] [--seed S] [--baskets B]
                            write a synthetic ruleset, profiles and transactions
  help                      this text
`;

/** The `offerloop` command: dispatches to one subcommand and exits with its code. */
export async function cli(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve();
      return 0;
    case 'generate':
      return runGenerate(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`offerloop: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
