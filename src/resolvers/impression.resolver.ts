import { Arg, Ctx, ID, Int, Query, Resolver } from "type-graphql";
import { mayRead } from "../auth/policy";
import { REQUEST_LIMITS } from "../config/limits";
import { findImpressionWithOutcomes, listImpressionsWithOutcomes } from "../db/impressions-read";
import { ImpressionType } from "../schema/impression.type";
import type { GatewayContext } from "../server/context";
import { toImpressionType } from "./impression.mapper";

@Resolver(() => ImpressionType)
export class ImpressionResolver {
  @Query(() => ImpressionType, {
    nullable: true,
    description:
      "A served ranking by its id (Recommendations.impressionId) with the outcome of each position; null when " +
      "unknown, or not written yet (impressions are recorded just behind the answer).",
  })
  async impression(
    @Arg("id", () => ID) id: string,
    @Ctx() { db, config, principal }: GatewayContext,
  ): Promise<ImpressionType | null> {
    const found = await findImpressionWithOutcomes(db, id, config.ATTRIBUTION_WINDOW_MS);
    // Another member's impression reads as unknown to a member token (src/auth/policy.ts, `owned`).
    return found && mayRead(principal, found.memberId) ? toImpressionType(found) : null;
  }

  @Query(() => [ImpressionType], {
    description:
      "A member's latest rankings, newest first, optionally of one task, with the outcome of each position. " +
      `\`first\` is 1 to ${REQUEST_LIMITS.maxPageSize}.`,
  })
  async impressions(
    @Arg("memberId", () => ID) memberId: string,
    @Ctx() { db, config }: GatewayContext,
    @Arg("task", () => String, { nullable: true }) task?: string | null,
    @Arg("first", () => Int, { defaultValue: 20 }) first = 20,
  ): Promise<ImpressionType[]> {
    const found = await listImpressionsWithOutcomes(
      db,
      { memberId, taskName: task, first },
      config.ATTRIBUTION_WINDOW_MS,
    );
    return found.map(toImpressionType);
  }
}
