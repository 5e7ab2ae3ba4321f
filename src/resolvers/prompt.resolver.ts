import { Arg, Ctx, ID, Query, Resolver } from "type-graphql";
import { preparePrompt, requireTokenizer } from "../ranking/prompts";
import { PromptType } from "../schema/prompt.type";
import type { GatewayContext } from "../server/context";

@Resolver()
export class PromptResolver {
  @Query(() => PromptType, {
    description: "Renders, without scoring, the 360Brew prompt a ranking would send.",
  })
  async prompt(
    @Arg("memberId", () => ID) memberId: string,
    @Arg("task", () => String) taskName: string,
    @Arg("candidateIds", () => [ID]) candidateIds: string[],
    @Ctx() { db, tokenizer, config, inference, caches, signal }: GatewayContext,
  ): Promise<PromptType> {
    // Cut to the model's context as a ranking would be; without a reachable sidecar, uncut.
    const info = await inference?.modelInfo(signal).catch(() => null);
    const { prompt } = await preparePrompt(db, requireTokenizer(tokenizer), config.PROMPT_MAX_TOKENS, {
      memberId,
      taskName,
      candidateIds,
      maxContextTokens: info?.maxContext,
      caches,
    });
    return {
      prefixText: prompt.prefixText,
      prefixTokenIds: prompt.prefixIds,
      historyUsed: prompt.historyUsed,
      historyAvailable: prompt.historyAvailable,
      candidates: prompt.candidates.map((c) => ({ itemId: c.id, text: c.text, tokenIds: c.ids })),
      labels: prompt.labels.map((l) => ({ ...l, tokenIds: l.ids })),
    };
  }
}
