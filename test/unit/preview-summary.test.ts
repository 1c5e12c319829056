import { expect } from "chai";
import { changes, MODE_NOTES, summarize } from "../../scripts/preview-summary";

describe("preview summary for pull requests", () => {
  const preview = {
    steps: [
      { op: "same", urn: "urn:pulumi:prod::etcd-standby::pulumi:pulumi:Stack::etcd-standby-prod" },
      { op: "create", urn: "urn:pulumi:prod::etcd-standby::pulumi-nodejs:dynamic/etcdstandby:EtcdMemberRemoval::remove-master3", newState: { type: "pulumi-nodejs:dynamic/etcdstandby:EtcdMemberRemoval" } },
      { op: "replace", urn: "urn:pulumi:prod::etcd-standby::pulumi-nodejs:dynamic/etcdstandby:EtcdLearner::learner-master3", replaceReasons: ["peerURL"], diffReasons: ["peerURL", "clientURL"] },
      { op: "update", urn: "urn:pulumi:prod::etcd-standby::pulumi-nodejs:dynamic/etcdstandby:EtcdLearner::learner-node2", detailedDiff: { image: { kind: "update" } } },
    ],
    changeSummary: { create: 1, replace: 1, update: 1, same: 1 },
  };

  it("lists each changing resource with its operation, fields and replacement", () => {
    const md = summarize(preview, "prod");
    expect(md).to.include("### pulumi preview: `prod`");
    expect(md).to.include("3 changes (1 to create, 1 to replace, 1 to update).");
    expect(md).to.include("| remove-master3 | EtcdMemberRemoval | create | - | no |");
    expect(md).to.include("| learner-master3 | EtcdLearner | replace | clientURL, peerURL | yes (peerURL) |");
    expect(md).to.include("| learner-node2 | EtcdLearner | update | image | no |");
    expect(changes(preview)).to.have.length(3);
  });

  it("says so when nothing changes, and shows errors", () => {
    const md = summarize({ steps: [{ op: "same", urn: "a::b" }], diagnostics: [{ severity: "error", message: "the stack config has 1 problem" }] }, "staging");
    expect(md).to.include("No changes");
    expect(md).to.include("the stack config has 1 problem");
  });
  it("names the mode and what it converges to, for every mode the stack knows", () => {
    for (const mode of ["learner-standby", "stretched", "failover", "rebuild", "failback"]) {
      const md = summarize({ steps: [] }, "prod", mode);
      expect(md).to.include(`Mode \`${mode}\`: ${MODE_NOTES[mode]}.`);
    }
    expect(summarize({ steps: [] }, "prod", "sideways")).to.include("not a mode this version knows");
    expect(summarize({ steps: [] }, "prod")).to.not.include("Mode ");
  });
});
