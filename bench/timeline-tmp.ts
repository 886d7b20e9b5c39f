import { benchApprovals, formatApprovalBench } from './approval-bench.js';
import { startBenchStack } from './bench-stack.js';
const { stack, release } = await startBenchStack();
try {
  await benchApprovals(5, 1, stack);
  console.log(formatApprovalBench(await benchApprovals(Number(process.argv[2] ?? 60), 1, stack)));
} finally { await release(); }
