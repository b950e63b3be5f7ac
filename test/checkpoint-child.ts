// The CLI in a child process of test/train/checkpoint-faults.test.ts (run through scripts/run.mjs), so
// a test can SIGKILL a training run in the middle of a checkpoint save.
import { main } from '../src/cli/main.ts';

process.exit(await main(process.argv.slice(2)));
