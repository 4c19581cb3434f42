import { main as serve } from '../main.js';
import { runEvaluate } from './evaluate-command.js';
import { runExport } from './export-command.js';
import { runGenerate } from './generate-command.js';
import { runLoad } from './load-command.js';
import { runMine } from './mine-command.js';
import { runSelect } from './select-command.js';
import { runSimulate } from './simulate-command.js';
import { runWhatIf } from './what-if-command.js';
import { runWorker } from './worker-command.js';

const USAGE = `usage: offerloop <command> [options]

commands:
  serve                     start the server (configured by environment variables; see README)
  generate --offers N --customers M --out DIR [--affinities K] [--seed S] [--baskets B]
                            write a synthetic ruleset, profiles and transactions
  load [--redis URL | --cluster URL,URL] FILE
                            load customer profiles (NDJSON or CSV) into Redis as a new version
  mine --transactions FILE --min-support S --min-confidence C --out DIR [--profiles FILE] [options]
                            association rules (FP-Growth) and cross-sell affinities from purchases
  export [--redis URL | --cluster URL,URL] [--shards N] --since TIME [--until TIME] --out FILE
                            write the feedback log (decisions and feedback) as NDJSON
  worker                    consume the feedback log into counters and contact history (until SIGTERM)
  simulate [--customers N] [--interactions M] [--seed S] [--json] [--log FILE] [--rules-out DIR]
                            run a synthetic world with known truth through the real engine and
                            learning: accept rates of learning, static, random and oracle policies
  evaluate --rules DIR --log FILE --profiles FILE [--exploration E] [--no-learning] [--json]
                            estimate off-line how a candidate ruleset would have done on logged
                            decisions (IPS, SNIPS, doubly robust, with 95% intervals)
  what-if --candidate DIR [--rules DIR] --channel C --volume N [--profiles FILE | --redis URL] [--json]
                            a candidate ruleset and the live one over the population, side by
                            side: reach, expected accepts and value, budget and cap use
  select --campaign ID --channel C [--limit N] [--format csv|ndjson] [--out FILE]
         [--profiles FILE | --redis URL]
                            a campaign's target list for an outbound channel over the population,
                            each row a real decision (control group held out and logged)
  help                      this text
`;

const SERVE_USAGE = `Usage: offerloop serve

Starts the server. It takes no flags: it is configured by environment variables (the README's
configuration table has them all). The ones most often set:
  PORT, HOST                where to listen (8080, 127.0.0.1)
  OFFERLOOP_RULES           the rules directory (rules)
  OFFERLOOP_PROFILES        NDJSON or CSV profiles for the embedded store (none: a demo population)
  REDIS_URL                 one Redis; or REDIS_CLUSTER_NODES=host:port,host:port for a cluster
  OFFERLOOP_API_KEYS        key=scope+scope,… (required with Redis; none: the demo key 'demo')
  OFFERLOOP_WORKERS         worker processes (Redis: one per core)
  OFFERLOOP_LOG_LEVEL       fatal, error, warn, info (default), debug, trace, silent
`;

/** `serve` takes no flags: --help prints its usage, anything else is a usage error. */
async function runServe(args: readonly string[]): Promise<number> {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  if (args.length > 0) {
    process.stderr.write(`offerloop serve: unexpected argument '${args[0]}'\n\n${SERVE_USAGE}`);
    return 2;
  }
  await serve();
  return 0;
}

/** The `offerloop` command: dispatches to one subcommand and exits with its code. */
export async function cli(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'generate':
      return runGenerate(rest);
    case 'load':
      return runLoad(rest);
    case 'mine':
      return runMine(rest);
    case 'export':
      return runExport(rest);
    case 'worker':
      return runWorker(rest);
    case 'simulate':
      return runSimulate(rest);
    case 'evaluate':
      return runEvaluate(rest);
    case 'what-if':
      return runWhatIf(rest);
    case 'select':
      return runSelect(rest);
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
