/**
 * The `dualsip` command. Subcommands: node (start a node); pair, status,
 * switchover, drain and calls come with later issues.
 */
import { parseArgs } from 'node:util';
import { CliError } from './errors.js';
import { NODE_FLAGS, nodeCommand } from './commands/node.js';
import { PAIR_FLAGS, pairCommand } from './commands/pair.js';

export const USAGE = `usage: dualsip <command> [options]
commands:
  node        start a node (engine + call control)
  pair        start a single-host pair (two nodes, Redis, a SIPp callee on 127.0.0.1)
  status      show a node's role and readiness    (not yet available)
  switchover  hand the active role to the peer    (not yet available)
  drain       stop taking calls, wait for calls   (not yet available)
  calls       list calls in progress              (not yet available)
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
for (const later of ['status', 'switchover', 'drain', 'calls']) {
  COMMANDS[later] = async () => {
    throw new CliError({ code: 'ERR_USAGE', message: `dualsip ${later}: not implemented yet`, hint: 'only `dualsip node` exists so far' });
  };
}

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
