/**
 * The command-line interface: argv -> engine -> text, JSON or SARIF, and an exit code.
 * Exit codes: 0 ok (scan: no backdoor), 1 backdoor found, 2 bad input (the message names the
 * file), 3 internal error, 130 interrupted.
 */
import { CancelledError, InputError } from '../engine/errors';
import { UsageError } from './args';
import { CliIo, PROCESS_IO } from './io';
import { EXIT } from './exit';
import { SCAN_USAGE, scanCommand } from './commands/scan';
import { EVAL_USAGE, evalCommand } from './commands/eval';
import { INFO_USAGE, infoCommand } from './commands/info';
import { REPAIR_USAGE, repairCommand } from './commands/repair';
import { TRAIN_USAGE, trainCommand } from './commands/train';

export { EXIT };

const COMMANDS: Record<string, { run: (argv: string[], io: CliIo) => Promise<number>; usage: string }> = {
  info: { run: infoCommand, usage: INFO_USAGE },
  eval: { run: evalCommand, usage: EVAL_USAGE },
  scan: { run: scanCommand, usage: SCAN_USAGE },
  repair: { run: repairCommand, usage: REPAIR_USAGE },
  train: { run: trainCommand, usage: TRAIN_USAGE },
};

function usage(): string {
  return [
    'Usage: backdoor-scan <command> [options]',
    '',
    ...Object.values(COMMANDS).map((c) => c.usage),
    '',
    'Exit codes: 0 ok/clean, 1 backdoor found, 2 bad input, 3 internal error.',
  ].join('\n');
}

export async function main(argv: string[], io: CliIo = PROCESS_IO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage()}\n`);
    return name ? EXIT.ok : EXIT.badInput;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`backdoor-scan: unknown command '${name}'\n\n${usage()}\n`);
    return EXIT.badInput;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`backdoor-scan ${name}: ${e.message}\n\n${command.usage}\n`);
      return EXIT.badInput;
    }
    if (e instanceof InputError) {
      io.stderr.write(`backdoor-scan: ${e.message}\n`);
      return EXIT.badInput;
    }
    if (e instanceof CancelledError) {
      io.stderr.write('backdoor-scan: interrupted\n');
      return EXIT.interrupted;
    }
    io.stderr.write(`backdoor-scan: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return EXIT.internal;
  }
}
