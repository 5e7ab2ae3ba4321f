import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { printSchemaSdl } from "../src/server/sdl";

// Writes the generated SDL to schema.graphql so reviewers see the API; a test keeps it current.
printSchemaSdl().then((sdl) => {
  writeFileSync(join(__dirname, "..", "..", "schema.graphql"), sdl);
  console.log("wrote schema.graphql");
});
