import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { REQUEST_LIMITS } from "../config/limits";
import { latestInteractions } from "../db/history";
import { countMembers, findMember, listMembers, upsertMember } from "../db/members";
import { badInput } from "../domain/errors";
import { memberEvent } from "../domain/events";
import { parseInput } from "../domain/validate";
import { MemberConnection } from "../schema/connections";
import { InteractionType } from "../schema/interaction.type";
import { MemberInput } from "../schema/member.input";
import { MemberType } from "../schema/member.type";
import type { GatewayContext } from "../server/context";
import { paginate } from "./pagination";

@Resolver(() => MemberType)
export class MemberResolver {
  @Query(() => MemberType, { nullable: true, description: "A member by id; null when unknown." })
  member(@Arg("id", () => ID) id: string, @Ctx() { db }: GatewayContext) {
    return findMember(db, id);
  }

  @Query(() => MemberConnection, { description: "Members ordered by id, forward pagination." })
  members(
    @Ctx() { db }: GatewayContext,
    @Arg("first", () => Int, { defaultValue: 20 }) first: number,
    @Arg("after", () => String, { nullable: true }) after?: string | null,
  ) {
    return paginate(
      { first, after },
      (afterId, take) => listMembers(db, afterId, take),
      () => countMembers(db),
    );
  }

  @FieldResolver(() => [InteractionType], {
    description:
      "The member's latest interactions, newest first, each with its item (all actions and item types). " +
      `\`first\` is 1 to ${REQUEST_LIMITS.maxPageSize}.`,
  })
  interactions(
    @Root() member: MemberType,
    @Ctx() { db }: GatewayContext,
    @Arg("first", () => Int, { defaultValue: 20 }) first: number,
  ) {
    const max = REQUEST_LIMITS.maxPageSize;
    if (!Number.isInteger(first) || first < 1 || first > max) {
      throw badInput(`first must be between 1 and ${max}, got ${first}`, { argument: "first" });
    }
    return latestInteractions(db, member.id, first);
  }

  @Mutation(() => MemberType, {
    description: "Creates or updates a member (same rules as the Kafka members topic).",
  })
  upsertMember(@Arg("input", () => MemberInput) input: MemberInput, @Ctx() { db }: GatewayContext) {
    return upsertMember(db, parseInput(memberEvent, input, "input"));
  }
}
