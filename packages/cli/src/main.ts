/**
 * The `dualsip` command. Subcommands: node (start a node); pair, status,
 * switchover, drain and calls come with later issues.
 */
import { parseArgs } from 'node:util';
import { CliError } from './errors.js';
import { NODE_FLAGS, nodeCommand } from './commands/node.js';
import { PAIR_FLAGS, pairCommand } from './commands/pair.js';
import { STATUS_FLAGS, statusCommand } from './commands/status.js';
import { SWITCHOVER_FLAGS, switchoverCommand } from './commands/switchover.js';
import { DRAIN_FLAGS, drainCommand } from './commands/drain.js';
import { CALLS_FLAGS, callsCommand } from './commands/calls.js';
import { DRILL_FLAGS, drillCommand } from './commands/drill.js';

export const USAGE = `usage: dualsip <command> [options]
commands:
  node        start a node (engine + call control)
  pair        start a single-host pair (two nodes, Redis, a SIPp callee on 127.0.0.1)
  status      both nodes at a glance (exit 0 healthy, 3 degraded, 4 down)
  switchover  graceful handover from the active node to the passive one
  drain       stop new calls on a node, wait for its calls to end (--cancel)
  calls       list calls in progress
  drill       failover drill: switch over (and back), check no call was lost, record the result
run \`dualsip <command> --help\` for the options of a command`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  node: async (argv) => {
    let values;
    try {
      ({ values } = parseArgs({ args: argv, options: NODE_FLAGS, strict: true, allowPositionals: false }));
    } catch (err) {
      throw new CliError({ code: 'ERR_USAGE', message: `dualsip node: ${(err as Error).message}`, hint: 'run `dualsip node --help`' });
    }
    return nodeCommand(values);
  },
  pair: async (argv) => {
    let values;
    try {
      ({ values } = parseArgs({ args: argv, options: PAIR_FLAGS, strict: true, allowPositionals: false }));
    } catch (err) {
      throw new CliError({ code: 'ERR_USAGE', message: `dualsip pair: ${(err as Error).message}`, hint: 'run `dualsip pair --help`' });
    }
    return pairCommand(values);
  },
};
function usageError(cmd: string, err: unknown): CliError {
  return new CliError({ code: 'ERR_USAGE', message: `dualsip ${cmd}: ${(err as Error).message}`, hint: `run \`dualsip ${cmd} --help\`` });
}
COMMANDS.status = async (argv) => {
  let p;
  try {
    p = parseArgs({ args: argv, options: STATUS_FLAGS, strict: true, allowPositionals: false });
  } catch (err) {
    throw usageError('status', err);
  }
  return statusCommand(p.values);
};
COMMANDS.switchover = async (argv) => {
  let p;
  try {
    p = parseArgs({ args: argv, options: SWITCHOVER_FLAGS, strict: true, allowPositionals: false });
  } catch (err) {
    throw usageError('switchover', err);
  }
  return switchoverCommand(p.values);
};
COMMANDS.drain = async (argv) => {
  let p;
  try {
    p = parseArgs({ args: argv, options: DRAIN_FLAGS, strict: true, allowPositionals: true });
  } catch (err) {
    throw usageError('drain', err);
  }
  return drainCommand(p.values, p.positionals);
};
COMMANDS.calls = async (argv) => {
  let p;
  try {
    p = parseArgs({ args: argv, options: CALLS_FLAGS, strict: true, allowPositionals: true });
  } catch (err) {
    throw usageError('calls', err);
  }
  return callsCommand(p.values, p.positionals);
};
COMMANDS.drill = async (argv) => {
  let p;
  try {
    p = parseArgs({ args: argv, options: DRILL_FLAGS, strict: true, allowPositionals: false });
  } catch (err) {
    throw usageError('drill', err);
  }
  return drillCommand(p.values);
};

/** Runs the CLI; returns the exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd ? process.stdout : process.stderr).write(`${USAGE}\n`);
    return cmd ? 0 : 2;
  }
  const command = COMMANDS[cmd];
  try {
    if (!command) throw new CliError({ code: 'ERR_USAGE', message: `dualsip: unknown command ${JSON.stringify(cmd)}`, hint: 'run `dualsip --help`' });
    return await command(rest);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
      return err.exitCode;
    }
    process.stderr.write(`dualsip: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry || (globalThis as { __dualsipBin?: boolean }).__dualsipBin) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  // A node keeps no handles once closed; exit explicitly in case a library left one.
  setTimeout(() => process.exit(code), 200).unref();
}
