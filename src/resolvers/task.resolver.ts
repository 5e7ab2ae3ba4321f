import { Arg, Ctx, Mutation, Query, Resolver } from "type-graphql";
import { getTask, listTasks } from "../db/tasks";
import { saveTask } from "../ranking/tasks";
import { TaskInput } from "../schema/task.input";
import { TaskType } from "../schema/task.type";
import type { GatewayContext } from "../server/context";

@Resolver(() => TaskType)
export class TaskResolver {
  @Query(() => [TaskType], { description: "Every task, by name." })
  tasks(@Ctx() { db }: GatewayContext) {
    return listTasks(db);
  }

  @Query(() => TaskType, { description: "One task; NOT_FOUND when unknown." })
  task(@Arg("name", () => String) name: string, @Ctx() { db }: GatewayContext) {
    return getTask(db, name);
  }

  @Mutation(() => TaskType, { description: "Creates or replaces a task." })
  upsertTask(@Arg("input", () => TaskInput) input: TaskInput, @Ctx() { db, caches }: GatewayContext) {
    return saveTask(db, caches.tasks, input);
  }
}
