// The engine against the backend run directly on whole, contiguous sequences: Score through
// the prefix cache, candidate forks, label branches, chunked and batched steps must all give
// the log-probs of the plain forward pass; Generate must follow the argmax; cancellation and
// deadlines must free KV memory.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "backend.h"
#include "cpu_backend.h"
#include "error.h"
#include "engine.h"
#include "test_models.h"

namespace bg {
namespace {

using namespace std::chrono_literals;

// Full logits (T, V) of `ids` from a fresh backend, no engine involved.
std::vector<std::vector<float>> direct_logits(CpuBackend& be, const std::vector<int>& ids) {
  const int bt = 16, nb = (static_cast<int>(ids.size()) + bt - 1) / bt;
  be.init_kv(nb, bt);
  std::vector<int> blocks(nb);
  for (int i = 0; i < nb; ++i) blocks[i] = i;
  std::vector<OutputRequest> outs;
  for (size_t i = 0; i < ids.size(); ++i) outs.push_back({0, static_cast<int>(i), true, {}});
  std::vector<std::vector<float>> res;
  be.forward({{&blocks, 0, ids}}, outs, &res);
  return res;
}

// log p(label | prefix + cand), teacher-forced, from direct logits.
double direct_label_logprob(CpuBackend& be, const std::vector<int>& prefix,
                            const std::vector<int>& cand, const std::vector<int>& label) {
  std::vector<int> ids = prefix;
  ids.insert(ids.end(), cand.begin(), cand.end());
  ids.insert(ids.end(), label.begin(), label.end() - 1);
  auto rows = direct_logits(be, ids);
  double lp = 0;
  const size_t first = prefix.size() + cand.size() - 1;
  for (size_t j = 0; j < label.size(); ++j) {
    const auto& r = rows[first + j];
    lp += r[label[j]] - logsumexp(r.data(), static_cast<int>(r.size()));
  }
  return lp;
}

std::vector<int> seq(int n, int start, int mul = 7) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = (start + i * mul) % 2000;
  return v;
}

ScoreSpec sample_score(int prefix_len = 40) {
  ScoreSpec s;
  s.prefix = seq(prefix_len, 3);
  s.candidates = {seq(1, 500), seq(5, 600), seq(17, 700)};
  s.labels = {{10}, {11}, {12, 13, 14}};
  return s;
}

std::shared_ptr<Request> run(Engine& e, std::shared_ptr<Request> r, Status* submit = nullptr) {
  Status st = e.validate(*r);
  if (st.ok()) st = e.submit(r);
  if (submit) *submit = st;
  if (!st.ok()) {
    r->status = st;
    return r;
  }
  EXPECT_TRUE(r->wait_finished(30s));
  return r;
}

std::shared_ptr<Request> score_req(const ScoreSpec& s) {
  auto r = std::make_shared<Request>();
  r->kind = Request::Score;
  r->score = s;
  return r;
}

std::shared_ptr<Request> gen_req(std::vector<int> prompt, int max_tokens, float temp = 0.f,
                                 uint64_t seed = 0) {
  auto r = std::make_shared<Request>();
  r->kind = Request::Generate;
  r->generate.prompt = std::move(prompt);
  r->generate.max_tokens = max_tokens;
  r->generate.sampling.temperature = temp;
  r->generate.sampling.seed = seed;
  return r;
}

std::vector<GenEvent> drain(Request& r) {
  std::vector<GenEvent> evs;
  GenEvent ev;
  while (r.next_event(&ev, 10s)) {
    evs.push_back(ev);
    if (ev.done) break;
  }
  return evs;
}

void wait_for(const std::function<bool()>& cond) {
  for (int i = 0; i < 200 && !cond(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(cond());
}

class EngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = test_model(GetParam());
    direct_ = std::make_unique<CpuBackend>(load_model(dir_), 2);
    be_ = std::make_unique<CpuBackend>(load_model(dir_), 2);
  }
  std::unique_ptr<Engine> engine(size_t kv_mb = 64, int max_batch_tokens = 2048) {
    EngineOptions o;
    o.kv_budget_bytes = kv_mb << 20;
    o.max_batch_tokens = max_batch_tokens;
    return std::make_unique<Engine>(*be_, o);
  }
  void expect_matches_direct(const ScoreSpec& s, const Request& r) {
    ASSERT_TRUE(r.status.ok()) << r.status.message;
    ASSERT_EQ(r.logprobs.size(), s.candidates.size());
    double worst = 0;
    for (size_t c = 0; c < s.candidates.size(); ++c)
      for (size_t l = 0; l < s.labels.size(); ++l) {
        const double want = direct_label_logprob(*direct_, s.prefix, s.candidates[c], s.labels[l]);
        worst = std::max(worst, std::fabs(want - r.logprobs[c][l]));
        EXPECT_NEAR(r.logprobs[c][l], want, 1e-4) << "candidate " << c << " label " << l;
      }
    std::cout << "  " << GetParam() << ": max |score - direct| = " << worst << "\n";
  }
  std::string dir_;
  std::unique_ptr<CpuBackend> direct_, be_;
};

// Attention through a scattered block table, 32-token blocks (two K panels per block), fed in
// uneven chunks, must give the logits of one contiguous prefill.
TEST_P(EngineTest, PagedAttentionWithScatteredBlocksMatchesContiguous) {
  const std::vector<int> ids = seq(100, 17);
  const auto want = direct_logits(*direct_, ids);
  be_->init_kv(12, 32);
  const std::vector<int> blocks = {7, 3, 11, 0};
  std::vector<std::vector<float>> got;
  int pos = 0;
  for (int n : {37, 1, 30, 32}) {
    std::vector<OutputRequest> outs;
    for (int i = 0; i < n; ++i) outs.push_back({0, i, true, {}});
    std::vector<std::vector<float>> res;
    be_->forward({{&blocks, pos, std::vector<int>(ids.begin() + pos, ids.begin() + pos + n)}}, outs,
                 &res);
    got.insert(got.end(), res.begin(), res.end());
    pos += n;
  }
  ASSERT_EQ(got.size(), want.size());
  float worst = 0;
  for (size_t r = 0; r < want.size(); ++r)
    for (size_t v = 0; v < want[r].size(); ++v) worst = std::max(worst, std::fabs(got[r][v] - want[r][v]));
  EXPECT_LE(worst, 1e-4f);
  EXPECT_THROW(be_->init_kv(4, 24), Error);  // the CPU layout needs multiples of 16
}

// Multi-item scoring: prefix then every candidate in one sequence, each candidate attending
// the prefix and itself only, at positions continuing from the prefix end, must give each
// candidate's logits as if it were scored alone after the prefix. Fed whole, and fed in
// uneven chunks that cut through items, through a scattered block table.
TEST_P(EngineTest, MultiItemMaskedScoringEqualsOneByOne) {
  const std::vector<int> prefix = seq(37, 5);
  const std::vector<std::vector<int>> cands = {seq(1, 500), seq(9, 600), seq(20, 700), seq(3, 800)};
  std::vector<int> ids = prefix, item_lo(prefix.size(), 0), last;  // last: row of each item end
  for (const auto& c : cands) {
    const int lo = static_cast<int>(ids.size());
    ids.insert(ids.end(), c.begin(), c.end());
    item_lo.insert(item_lo.end(), c.size(), lo);
    last.push_back(static_cast<int>(ids.size()) - 1);
  }
  std::vector<std::vector<float>> want;  // (candidates, V)
  for (const auto& c : cands) {
    std::vector<int> one = prefix;
    one.insert(one.end(), c.begin(), c.end());
    want.push_back(direct_logits(*direct_, one).back());
  }
  const int shared = static_cast<int>(prefix.size()), total = static_cast<int>(ids.size());
  for (const std::vector<int>& cuts : {std::vector<int>{total}, std::vector<int>{30, 12, 1, 26, total - 69}}) {
    be_->init_kv(12, 16);
    const std::vector<int> blocks = {9, 2, 11, 4, 0, 7};
    std::vector<std::vector<float>> got;
    int pos = 0;
    for (int n : cuts) {
      SeqChunk ch{&blocks, pos, std::vector<int>(ids.begin() + pos, ids.begin() + pos + n)};
      ch.shared = shared;
      ch.item_lo.assign(item_lo.begin() + pos, item_lo.begin() + pos + n);
      std::vector<OutputRequest> outs;
      for (int r : last)
        if (r >= pos && r < pos + n) outs.push_back({0, r - pos, true, {}});
      std::vector<std::vector<float>> res;
      be_->forward({ch}, outs, &res);
      got.insert(got.end(), res.begin(), res.end());
      pos += n;
    }
    ASSERT_EQ(got.size(), want.size());
    float worst = 0;
    for (size_t c = 0; c < want.size(); ++c)
      for (size_t v = 0; v < want[c].size(); ++v)
        worst = std::max(worst, std::fabs(got[c][v] - want[c][v]));
    EXPECT_LE(worst, 1e-4f) << cuts.size() << " chunk(s)";
  }
}

// Score with single-token labels runs its candidates as one multi-item sequence: the same
// log-probs as per-candidate forks and as the direct forward pass, whole or fed in 7-token
// steps that cut through candidates, full-vocabulary or LABELS_ONLY, with the same usage.
TEST_P(EngineTest, MultiItemScoreEqualsPerCandidateForks) {
  ScoreSpec s = sample_score(37);
  s.candidates.push_back(seq(9, 900));
  s.labels = {{10}, {11}, {1500}};
  for (const bool labels_only : {false, true}) {
    s.labels_only = labels_only;
    std::vector<std::shared_ptr<Request>> rs;
    for (const bool multi : {false, true})
      for (const int max_tokens : {2048, 7}) {
        EngineOptions o;
        o.kv_budget_bytes = size_t{64} << 20;
        o.max_batch_tokens = max_tokens;
        o.multi_item_scoring = multi;
        Engine e(*be_, o);
        rs.push_back(run(e, score_req(s)));
        ASSERT_TRUE(rs.back()->status.ok()) << rs.back()->status.message;
      }
    for (size_t i = 1; i < rs.size(); ++i) {
      EXPECT_EQ(rs[i]->usage.prompt, rs[0]->usage.prompt);
      EXPECT_EQ(rs[i]->usage.computed, rs[0]->usage.computed);
      for (size_t c = 0; c < s.candidates.size(); ++c)
        for (size_t l = 0; l < s.labels.size(); ++l)
          EXPECT_NEAR(rs[i]->logprobs[c][l], rs[0]->logprobs[c][l], 1e-4)
              << "run " << i << " candidate " << c << " label " << l;
    }
    if (!labels_only) expect_matches_direct(s, *rs[3]);
  }
}

// An argmax output is the first maximum of the full logits row and its log-softmax.
TEST_P(EngineTest, ArgmaxOutputReducesTheFullRow) {
  const std::vector<int> ids = seq(30, 41);
  const auto full = direct_logits(*direct_, ids);
  be_->init_kv(2, 16);
  const std::vector<int> blocks = {1, 0};
  std::vector<std::vector<float>> res;
  be_->forward({{&blocks, 0, ids}}, {{0, 29, true, {}, true}, {0, 12, true, {}, true}}, &res);
  ASSERT_EQ(res.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    const auto& row = full[k == 0 ? 29 : 12];
    const int id = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
    ASSERT_EQ(res[k].size(), 2u);
    EXPECT_EQ(res[k][0], static_cast<float>(id));
    EXPECT_NEAR(res[k][1], row[id] - logsumexp(row.data(), static_cast<int>(row.size())), 1e-5);
  }
}

TEST(MultiItemSpans, PositionsContinueFromPrefixAndBadLayoutsThrow) {
  const std::vector<int> blocks = {0, 1};
  SeqChunk ch{&blocks, 2, {1, 2, 3, 4, 5}};
  ch.shared = 3;
  ch.item_lo = {0, 3, 3, 5, 5};  // slot 2 is prefix; items at slots [3, 5) and [5, 7)
  std::vector<RowSpan> sp;
  chunk_row_spans(ch, &sp);
  ASSERT_EQ(sp.size(), 5u);
  const int want_pos[] = {2, 3, 4, 3, 4};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(sp[i].slot, 2 + i);
    EXPECT_EQ(sp[i].pos, want_pos[i]) << "row " << i;
  }
  EXPECT_EQ(sp[3].lo, 5);
  ch.item_lo = {0, 3, 3, 2, 5};  // item starting inside the prefix
  EXPECT_THROW(chunk_row_spans(ch, &sp), Error);
  ch.item_lo = {0, 3, 3, 6, 5};  // item starting after its own token
  EXPECT_THROW(chunk_row_spans(ch, &sp), Error);
  ch.item_lo = {0, 3};
  EXPECT_THROW(chunk_row_spans(ch, &sp), Error);
}

TEST_P(EngineTest, ScoreMatchesDirectForward) {
  auto e = engine();
  const ScoreSpec s = sample_score();
  auto r = run(*e, score_req(s));
  expect_matches_direct(s, *r);
  EXPECT_EQ(r->usage.prompt, 40u + 1 + 5 + 17 + 3 * 2);
  EXPECT_EQ(r->usage.cached, 0u);
  EXPECT_EQ(r->usage.computed, r->usage.prompt);
}

TEST_P(EngineTest, PrefixCacheGivesSameLogprobs) {
  auto e = engine();
  const ScoreSpec s = sample_score();
  auto a = run(*e, score_req(s));
  auto b = run(*e, score_req(s));
  ASSERT_TRUE(b->status.ok());
  EXPECT_EQ(b->usage.cached, 32u);  // the two full 16-token blocks of the 40-token prefix
  EXPECT_EQ(b->usage.computed, a->usage.computed - 32);
  for (size_t c = 0; c < s.candidates.size(); ++c)
    for (size_t l = 0; l < s.labels.size(); ++l)
      EXPECT_NEAR(a->logprobs[c][l], b->logprobs[c][l], 1e-5);
  // A longer prefix sharing the first 40 tokens reuses them too.
  ScoreSpec longer = s;
  auto extra = seq(30, 900);
  longer.prefix.insert(longer.prefix.end(), extra.begin(), extra.end());
  auto c = run(*e, score_req(longer));
  EXPECT_EQ(c->usage.cached, 32u);
  expect_matches_direct(longer, *c);
}

TEST_P(EngineTest, BatchedAndChunkedEqualUnbatched) {
  std::vector<ScoreSpec> specs;
  for (int i = 0; i < 4; ++i) {
    ScoreSpec s = sample_score(20 + 9 * i);
    s.prefix[0] = 100 + i;  // distinct prefixes: no cache sharing between them
    specs.push_back(s);
  }
  std::vector<std::vector<std::vector<float>>> alone;
  {
    auto e = engine();
    for (const auto& s : specs) alone.push_back(run(*e, score_req(s))->logprobs);
  }
  // All four at once, in steps of at most 5 tokens: prefill is chunked and every step mixes
  // pieces of several requests.
  auto e = engine(64, 5);
  std::vector<std::shared_ptr<Request>> rs;
  for (const auto& s : specs) {
    rs.push_back(score_req(s));
    ASSERT_TRUE(e->validate(*rs.back()).ok());
    ASSERT_TRUE(e->submit(rs.back()).ok());
  }
  for (size_t i = 0; i < rs.size(); ++i) {
    ASSERT_TRUE(rs[i]->wait_finished(30s));
    ASSERT_TRUE(rs[i]->status.ok());
    for (size_t c = 0; c < alone[i].size(); ++c)
      for (size_t l = 0; l < alone[i][c].size(); ++l)
        EXPECT_NEAR(rs[i]->logprobs[c][l], alone[i][c][l], 1e-5);
  }
}

// A request that arrives while a step is running waits for that step, and its timings say so:
// they count from submission, not from when the engine thread next looked at its queue.
TEST_P(EngineTest, TimingsCountFromSubmissionThroughARunningStep) {
  auto e = engine(64, 4096);
  // The Score must arrive while the busy prefill runs. On a loaded machine the engine thread may
  // not have begun that step yet when the Score comes (both then share one step, and there is no
  // wait to count), or may have finished it: each attempt checks afterwards, from the busy
  // request's own timings, that the Score was submitted inside the busy step, and tries again with
  // a longer pause (and a fresh prompt, so no prefix cache shortens the step) when it was not.
  bool inside = false;
  for (int attempt = 0; attempt < 6 && !inside; ++attempt) {
    // One long prefill step (the whole prompt at once) keeps the engine thread busy.
    auto busy = gen_req(seq(3000, 11 + attempt), 1);
    ASSERT_TRUE(e->submit(busy).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(2 << attempt));
    auto r = score_req(sample_score(8));
    const auto t0 = Clock::now();
    ASSERT_TRUE(e->submit(r).ok());
    ASSERT_TRUE(r->wait_finished(30s));
    const double wall = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ASSERT_TRUE(r->status.ok()) << r->status.message;
    const auto evs = drain(*busy);
    ASSERT_FALSE(evs.empty());
    const Timings& bt = evs.back().timings;
    const auto ms = [](double v) {
      return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(v));
    };
    const auto busy_started = busy->submitted + ms(bt.queue_ms);
    const auto busy_prefilled = busy_started + ms(bt.prefill_ms);
    inside = busy_started < r->submitted && r->submitted < busy_prefilled;
    std::cout << "  " << GetParam() << ": attempt " << attempt << (inside ? "" : " (Score not inside the busy step)")
              << ": wall " << wall << " ms, total " << r->timings.total_ms << " ms, queue " << r->timings.queue_ms
              << " ms\n";
    EXPECT_LE(r->timings.total_ms, wall);
    EXPECT_LE(r->timings.queue_ms, r->timings.total_ms);
    if (!inside) continue;
    // The wait for the rest of the busy step is counted: it is most of the wall time (the busy
    // prefill is far longer than this small Score), and what is left out is only the threads'
    // wake-ups, which a loaded machine stretches, so no fixed number of milliseconds is asked.
    EXPECT_GE(r->timings.total_ms, 0.5 * wall);
    EXPECT_GE(r->timings.queue_ms, 0.25 * wall);
  }
  EXPECT_TRUE(inside) << "no attempt submitted the Score while the busy prefill ran";
}

// Generate and Score in the same steps: neither changes the other's results.
TEST_P(EngineTest, GenerateAndScoreShareSteps) {
  auto greedy = [&](Engine& e) {
    auto r = gen_req(seq(30, 77), 8);
    EXPECT_TRUE(e.submit(r).ok());
    return r;
  };
  std::vector<int> alone;
  {
    auto e = engine();
    auto r = greedy(*e);
    for (auto& ev : drain(*r))
      if (!ev.done) alone.push_back(ev.token);
  }
  auto e = engine(64, 8);
  auto g = greedy(*e);
  const ScoreSpec s = sample_score(50);
  auto sc = score_req(s);
  ASSERT_TRUE(e->submit(sc).ok());
  std::vector<int> mixed;
  for (auto& ev : drain(*g))
    if (!ev.done) mixed.push_back(ev.token);
  EXPECT_EQ(mixed, alone);
  ASSERT_TRUE(sc->wait_finished(30s));
  expect_matches_direct(s, *sc);
}

TEST_P(EngineTest, LabelsOnlyNormalizesOverLabelTokens) {
  auto e = engine();
  ScoreSpec s = sample_score();
  s.labels = {{10}, {11}, {12}};
  s.labels_only = true;
  auto r = run(*e, score_req(s));
  ASSERT_TRUE(r->status.ok()) << r->status.message;
  for (size_t c = 0; c < s.candidates.size(); ++c) {
    double total = 0;
    for (float lp : r->logprobs[c]) total += std::exp(lp);
    EXPECT_NEAR(total, 1.0, 1e-5);
    // Differences equal full-softmax differences (same logits, different normalizer).
    const double d01 = direct_label_logprob(*direct_, s.prefix, s.candidates[c], {10}) -
                       direct_label_logprob(*direct_, s.prefix, s.candidates[c], {11});
    EXPECT_NEAR(r->logprobs[c][0] - r->logprobs[c][1], d01, 1e-4);
  }
  s.labels = {{10, 11}};
  Status st;
  run(*e, score_req(s), &st);
  EXPECT_EQ(st.code, Code::InvalidArgument);
}

TEST_P(EngineTest, GreedyGenerateFollowsArgmax) {
  auto e = engine();
  std::vector<int> prompt = seq(21, 40);
  auto r = gen_req(prompt, 6);
  ASSERT_TRUE(e->validate(*r).ok());
  ASSERT_TRUE(e->submit(r).ok());
  auto evs = drain(*r);
  ASSERT_FALSE(evs.empty());
  ASSERT_TRUE(evs.back().done);
  std::vector<int> ids = prompt;
  const auto& eos = direct_->config().eos;
  for (size_t i = 0; i + 1 < evs.size(); ++i) {
    auto rows = direct_logits(*direct_, ids);
    const auto& last = rows.back();
    const int want = static_cast<int>(std::max_element(last.begin(), last.end()) - last.begin());
    EXPECT_EQ(evs[i].token, want) << "token " << i;
    EXPECT_NEAR(evs[i].logprob, last[want] - logsumexp(last.data(), static_cast<int>(last.size())),
                1e-4);
    ids.push_back(evs[i].token);
  }
  const bool stopped = std::find(eos.begin(), eos.end(), ids.back()) != eos.end();
  EXPECT_EQ(evs.back().reason, stopped ? FinishReason::Stop : FinishReason::Length);
  EXPECT_EQ(evs.back().usage.completion, evs.size() - 1);
  // Same prompt again: the prompt's full blocks come from the prefix cache.
  auto again = gen_req(prompt, 6);
  ASSERT_TRUE(e->submit(again).ok());
  auto evs2 = drain(*again);
  EXPECT_EQ(evs2.back().usage.cached, 16u);
  ASSERT_EQ(evs2.size(), evs.size());
  for (size_t i = 0; i + 1 < evs.size(); ++i) EXPECT_EQ(evs2[i].token, evs[i].token);
}

TEST_P(EngineTest, SamplingIsSeededAndStopsOnStopIds) {
  auto e = engine();
  auto tokens = [&](uint64_t seed, std::vector<int> stop = {}) {
    auto r = gen_req(seq(5, 9), 12, 1.0f, seed);
    r->generate.stop_ids = stop;
    EXPECT_TRUE(e->validate(*r).ok());
    EXPECT_TRUE(e->submit(r).ok());
    std::vector<int> out;
    for (auto& ev : drain(*r))
      if (!ev.done) out.push_back(ev.token);
      else EXPECT_TRUE(ev.reason == FinishReason::Length || ev.reason == FinishReason::Stop);
    return out;
  };
  const auto a = tokens(7), b = tokens(7), c = tokens(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  ASSERT_GE(a.size(), 3u);
  const auto stopped = tokens(7, {a[2]});
  const size_t first = std::find(a.begin(), a.end(), a[2]) - a.begin();
  EXPECT_EQ(stopped, std::vector<int>(a.begin(), a.begin() + first + 1));
}

TEST_P(EngineTest, CancelAndAbortFreeKvAtOnce) {
  auto e = engine();
  const int total = e->total_blocks();
  auto r = gen_req(seq(50, 1), 3000);
  r->id = "gen-1";
  ASSERT_TRUE(e->validate(*r).ok());
  ASSERT_TRUE(e->submit(r).ok());
  GenEvent ev;
  ASSERT_TRUE(r->next_event(&ev, 10s));
  auto dup = gen_req(seq(5, 1), 3);
  dup->id = "gen-1";
  EXPECT_EQ(e->submit(dup).code, Code::InvalidArgument);
  EXPECT_TRUE(e->abort("gen-1"));
  EXPECT_FALSE(e->abort("nope"));
  auto evs = drain(*r);
  ASSERT_TRUE(evs.back().done);
  EXPECT_EQ(evs.back().reason, FinishReason::Cancelled);
  EXPECT_EQ(r->status.code, Code::Cancelled);
  wait_for([&] { return e->free_blocks() + e->cached_blocks() == total; });
  // Cancellation through the request (what a gRPC handler does when the client goes away).
  auto s = score_req(sample_score(600));
  ASSERT_TRUE(e->submit(s).ok());
  s->cancel();
  ASSERT_TRUE(s->wait_finished(10s));
  EXPECT_TRUE(s->status.code == Code::Cancelled || s->status.ok());
  wait_for([&] { return e->free_blocks() + e->cached_blocks() == total; });
}

TEST_P(EngineTest, DeadlineExceeded) {
  auto e = engine();
  auto r = score_req(sample_score());
  r->deadline = Clock::now() - 1ms;
  run(*e, r);
  EXPECT_EQ(r->status.code, Code::DeadlineExceeded);
  auto g = gen_req(seq(5, 1), 3000);
  g->deadline = Clock::now() + 30ms;
  ASSERT_TRUE(e->submit(g).ok());
  auto evs = drain(*g);
  EXPECT_EQ(evs.back().reason, FinishReason::Deadline);
}

TEST_P(EngineTest, RejectsBadRequests) {
  auto e = engine(1);  // 1 MiB of KV
  auto code = [&](ScoreSpec s) {
    Status st;
    run(*e, score_req(std::move(s)), &st);
    return st.code;
  };
  ScoreSpec s = sample_score();
  s.candidates[1][2] = 2048;
  EXPECT_EQ(code(s), Code::InvalidArgument);
  s = sample_score();
  s.prefix[0] = -1;
  EXPECT_EQ(code(s), Code::InvalidArgument);
  s = sample_score();
  s.candidates.clear();
  EXPECT_EQ(code(s), Code::InvalidArgument);
  s = sample_score();
  s.candidates[0].clear();
  EXPECT_EQ(code(s), Code::InvalidArgument);
  s = sample_score();
  s.labels.push_back({});
  EXPECT_EQ(code(s), Code::InvalidArgument);
  s = sample_score(4096);
  EXPECT_EQ(code(s), Code::InvalidArgument);  // longer than the context
  s = sample_score(3000);
  EXPECT_EQ(code(s), Code::ResourceExhausted);  // fits the context, not 1 MiB of KV
  Status st;
  run(*e, gen_req({}, 3), &st);
  EXPECT_EQ(st.code, Code::InvalidArgument);
  run(*e, gen_req(seq(4096, 1), 3), &st);
  EXPECT_EQ(st.code, Code::InvalidArgument);
  // Still serves a request that fits.
  auto ok = run(*e, score_req(sample_score()));
  EXPECT_TRUE(ok->status.ok());
}

TEST_P(EngineTest, LruEvictionUnderBudgetKeepsAnswersRight) {
  // Budget of a few blocks more than one request needs: the second prefix evicts the first.
  const size_t block = be_->kv_block_bytes(16);
  EngineOptions o;
  o.kv_budget_bytes = block * 40;
  Engine e(*be_, o);
  ScoreSpec a = sample_score(300), b = sample_score(300);
  b.prefix[0] = 1999;
  auto ra = run(e, score_req(a));
  expect_matches_direct(a, *ra);
  auto rb = run(e, score_req(b));
  expect_matches_direct(b, *rb);
  auto ra2 = run(e, score_req(a));
  expect_matches_direct(a, *ra2);
  EXPECT_LT(ra2->usage.cached, 288u);  // part of a's prefix was evicted for b
}

INSTANTIATE_TEST_SUITE_P(Archs, EngineTest,
                         ::testing::Values("tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-mixtral"),
                         [](const auto& i) {
                           std::string n = i.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace bg
