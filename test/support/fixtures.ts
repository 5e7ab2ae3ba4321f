import type { Db } from "../../src/db/client";

/** The smallest world a ranking needs: member m1 (a welder) and two jobs, j1 and j2. */
export async function seedWelderWorld(db: Db): Promise<void> {
  await db.member.create({ data: { id: "m1", currentPosition: "welder" } });
  await db.item.createMany({
    data: [
      { id: "j1", type: "JOB", title: "Welder" },
      { id: "j2", type: "JOB", title: "Fitter" },
    ],
  });
}
