/** The benchmark's lag arithmetic: entries behind the leader, and that lag in time. */
import { expect } from "chai";
import { lags } from "../../scripts/bench/traffic";

describe("benchmark: learner lag from status samples", () => {
  it("is zero when the learner has applied what the leader committed", () => {
    expect(lags([{ at: 0, leaderIndex: 10, learnerApplied: 10 }])).to.deep.equal([{ entries: 0, ms: 0 }]);
  });

  it("dates the learner's index by interpolating the leader's history", () => {
    const out = lags([
      { at: 1000, leaderIndex: 100, learnerApplied: 100 },
      { at: 1050, leaderIndex: 150, learnerApplied: 140 },
      { at: 1100, leaderIndex: 200, learnerApplied: 150 },
    ]);
    // 140 was committed 40/50 of the way from 1000 to 1050: at 1040, 10 ms before the sample.
    expect(out[1]).to.deep.equal({ entries: 10, ms: 10 });
    // 150 was committed at 1050, 50 ms before the sample at 1100.
    expect(out[2]).to.deep.equal({ entries: 50, ms: 50 });
  });

  it("says it cannot tell (NaN) when the series starts after the leader reached the learner's index", () => {
    const [first] = lags([{ at: 0, leaderIndex: 120, learnerApplied: 100 }]);
    expect(first.entries).to.equal(20);
    expect(first.ms).to.be.NaN;
  });
});
