import { Arg, Ctx, Mutation, Query, Resolver } from "type-graphql";
import { taskDefinition } from "../prompt/task-definition";
import { TaskInput } from "../schema/task.input";
import { TaskType } from "../schema/task.type";
import type { GatewayContext } from "../server/context";
import { getTask, listTasks, upsertTask } from "../services/tasks";
import { parseInput } from "../services/validate";

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
  async upsertTask(@Arg("input", () => TaskInput) input: TaskInput, @Ctx() { db, caches }: GatewayContext) {
    const task = await upsertTask(db, parseInput(taskDefinition, input, "input"));
    caches.tasks.invalidate(task.name);
    return task;
  }
}
