import { type SidecarProcess, startSidecar } from "../../dev/sidecar-process";
import { testModel } from "./models";

/** A real sidecar process on a generated model, on a free port. */
export function startTestSidecar(
  opts: { arch?: string; listen?: string; threads?: number; args?: string[] } = {},
): Promise<SidecarProcess> {
  return startSidecar({
    modelDir: testModel(opts.arch ?? "llama"),
    listen: opts.listen,
    threads: opts.threads ?? 1,
    kvBudgetMb: 64,
    args: opts.args,
    onLog: process.env.TEST_SIDECAR_LOG ? (l) => process.stderr.write(`[sidecar] ${l}\n`) : undefined,
  });
}

/** A real sidecar (one thread, 64 MB of KV) whose finished Score calls are counted from its log. */
export async function startCountedSidecar(
  modelDir: string = testModel(),
): Promise<{ proc: SidecarProcess; scores: () => number }> {
  let scores = 0;
  const proc = await startSidecar({
    modelDir,
    threads: 1,
    kvBudgetMb: 64,
    onLog: (line) => {
      if (line.startsWith("score ")) scores++;
    },
  });
  return { proc, scores: () => scores };
}
