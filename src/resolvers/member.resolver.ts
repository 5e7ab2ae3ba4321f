import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { countMembers, findMember, listMembers, upsertMember } from "../db/members";
import { memberEvent } from "../domain/events";
import { parseInput } from "../domain/validate";
import { MemberConnection } from "../schema/connections";
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

  @Mutation(() => MemberType, {
    description: "Creates or updates a member (same rules as the Kafka members topic).",
  })
  upsertMember(@Arg("input", () => MemberInput) input: MemberInput, @Ctx() { db }: GatewayContext) {
    return upsertMember(db, parseInput(memberEvent, input, "input"));
  }
}
