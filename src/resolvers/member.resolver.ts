import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { memberEvent } from "../ingest/events";
import { MemberConnection } from "../schema/connections";
import { MemberInput } from "../schema/member.input";
import { MemberType } from "../schema/member.type";
import type { GatewayContext } from "../server/context";
import { upsertMember } from "../services/members";
import { paginate } from "../services/pagination";
import { parseInput } from "../services/validate";

@Resolver(() => MemberType)
export class MemberResolver {
  @Query(() => MemberType, { nullable: true, description: "A member by id; null when unknown." })
  member(@Arg("id", () => ID) id: string, @Ctx() { db }: GatewayContext) {
    return db.member.findUnique({ where: { id } });
  }

  @Query(() => MemberConnection, { description: "Members ordered by id, forward pagination." })
  members(
    @Ctx() { db }: GatewayContext,
    @Arg("first", () => Int, { defaultValue: 20 }) first: number,
    @Arg("after", () => String, { nullable: true }) after?: string | null,
  ) {
    return paginate(
      { first, after },
      (afterId, take) =>
        db.member.findMany({ where: afterId ? { id: { gt: afterId } } : {}, orderBy: { id: "asc" }, take }),
      () => db.member.count(),
    );
  }

  @Mutation(() => MemberType, {
    description: "Creates or updates a member (same rules as the Kafka members topic).",
  })
  upsertMember(@Arg("input", () => MemberInput) input: MemberInput, @Ctx() { db }: GatewayContext) {
    return upsertMember(db, parseInput(memberEvent, input, "input"));
  }
}
