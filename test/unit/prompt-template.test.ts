import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JOB_APPLY_TASK } from "../../src/domain/task-definition";
import { renderItem, renderPrefix, renderProfile, renderSuffix } from "../../src/prompt/template";

// The toy example of the 360Brew README / paper Table 1, with "…" as the descriptions.
const member = {
  currentPosition: "software engineer",
  currentCompany: "Google",
  location: "Sunnyvale, California",
};
const meta = {
  title: "Software Engineer",
  location: "New York",
  country: "USA",
  company: "Meta",
  description: "…",
};
const amd = {
  title: "Software Engineer",
  location: "Texas",
  country: "USA",
  company: "AMD",
  description: "…",
};
const apple = {
  title: "Software Engineer",
  location: "Seattle",
  country: "USA",
  company: "Apple",
  description: "…",
};

const GOLDEN =
  "Instruction: You are provided a member's profile and a set of jobs, their description, and interactions that the member had with the jobs. For each past job, the member has taken one of the following actions: applied, viewed, dismissed, or did not interact. Your task is to analyze the job interaction data along with the member's profile to predict whether the member will apply, view, or dismiss a new job referred to as the \"Question\" job.\n" +
  "Note: Focus on skills, location, and years of experience more than other criteria.\n" +
  "Member Profile: Current position: software engineer, current company: Google, Location: Sunnyvale, California.\n" +
  "Past job interaction data:\n" +
  "Member has applied to the following jobs: [Title: Software Engineer, Location: New York, Country: USA, Company: Meta, Description: …]\n" +
  "Member has viewed the following jobs: [Title: Software Engineer, Location: Texas, Country: USA, Company: AMD, Description: …]\n" +
  "Question: Will the member apply to the following job: [Title: Software Engineer, Location: Seattle, Country: USA, Company: Apple, Description: …]\n" +
  "Answer: The member will";

describe("360Brew prompt template", () => {
  it("renders the paper's example exactly", () => {
    const history = [
      { action: "VIEW", item: amd },
      { action: "APPLY", item: meta },
    ];
    const text = renderPrefix(JOB_APPLY_TASK, member, history) + renderSuffix(JOB_APPLY_TASK, apple);
    assert.equal(text, GOLDEN);
  });

  it("groups history by the task's action order, newest first within a group, and skips unknown actions", () => {
    const history = [
      { action: "DISMISS", item: { title: "A" } },
      { action: "APPLY", item: { title: "B" } },
      { action: "SAVE", item: { title: "C" } },
      { action: "APPLY", item: { title: "D" } },
    ];
    const prefix = renderPrefix(JOB_APPLY_TASK, member, history);
    assert.match(
      prefix,
      /Member has applied to the following jobs: \[Title: B\], \[Title: D\]\nMember has dismissed the following jobs: \[Title: A\]\n$/,
    );
    assert.doesNotMatch(prefix, /Title: C/);
  });

  it("says so when there is no history (cold start)", () => {
    assert.match(
      renderPrefix(JOB_APPLY_TASK, member, []),
      /Past job interaction data:\nMember has no past job interactions\.\n$/,
    );
  });

  it("verbalizes the optional profile fields after the paper's three and ends with a period", () => {
    const text = renderProfile({
      ...member,
      skills: ["Go", "Kubernetes"],
      yearsOfExperience: 7,
      summary: "Builds\nsystems.",
    });
    assert.equal(
      text,
      "Current position: software engineer, current company: Google, Location: Sunnyvale, California, Skills: Go, Kubernetes, Years of experience: 7, Summary: Builds systems..",
    );
    assert.equal(renderProfile({}), "No profile information.");
  });

  it("keeps every value on one line and renders extra attributes in order", () => {
    const text = renderItem({
      title: "Data\nEngineer",
      description: "  line one\n\nline two ",
      company: null,
      attributes: { Seniority: "Senior", Remote: true, Salary: 150000, nested: { x: 1 } },
    });
    assert.equal(
      text,
      "[Title: Data Engineer, Description: line one line two, Seniority: Senior, Remote: true, Salary: 150000]",
    );
  });

  it("generalizes over item types through the task's nouns and verbs", () => {
    const postTask = {
      ...JOB_APPLY_TASK,
      name: "post_like",
      itemType: "POST",
      itemNoun: "post",
      itemNounPlural: "posts",
      questionVerb: "like",
      actions: [{ action: "LIKE", historyPhrase: "liked", answer: "like", positive: true }],
    };
    const text =
      renderPrefix(postTask, member, [{ action: "LIKE", item: { title: "Hello" } }]) +
      renderSuffix(postTask, { title: "New" });
    assert.match(
      text,
      /Past post interaction data:\nMember has liked the following posts: \[Title: Hello\]\nQuestion: Will the member like the following post: \[Title: New\]\nAnswer: The member will$/,
    );
  });
});
