#include "engine.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <iostream>
#include <set>

#include "error.h"

namespace bg {

// ---------------------------------------------------------------------------------------------
// Request

bool Request::next_event(GenEvent* ev, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  if (!cv_.wait_for(lk, timeout, [&] { return !events_.empty(); })) return false;
  *ev = events_.front();
  events_.pop_front();
  return true;
}

bool Request::wait_finished(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return finished_; });
}

void Request::push(const GenEvent& ev) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    events_.push_back(ev);
  }
  cv_.notify_all();
}

void Request::finish(Status s) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    status = std::move(s);
    finished_ = true;
  }
  cv_.notify_all();
}

bool Request::finished() {
  std::lock_guard<std::mutex> lk(mu_);
  return finished_;
}

// ---------------------------------------------------------------------------------------------
// engine state

static double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// A sequence with tokens still to feed. Score requests have one prefix stream, then either
// one multi-item stream holding every candidate (single-token labels), or one stream per
// candidate and one per multi-token label of each candidate (forked from the candidate).
struct Engine::Stream {
  enum Role { Prefix, Candidate, LabelBranch, Generation, Items } role;
  KvSeq seq;
  int base = 0;           // position of toks[0]: KV before it was inherited by a fork
  std::vector<int> toks;  // all tokens this stream feeds
  size_t fed = 0;
  struct Out {
    size_t idx;            // index into toks whose output is wanted
    bool full;
    std::vector<int> ids;  // lm_head rows when !full
    int cand = -1;         // Items: the candidate this output scores
    bool argmax = false;   // greedy Generate: the backend returns {token, logprob}
  };
  std::vector<Out> outs;   // ascending idx
  size_t next_out = 0;
  int cand = -1, label = -1;
  // Items: per token of toks, the KV slot where its candidate starts; slots [0, shared) are
  // the prefix every candidate sees.
  std::vector<int> item_lo;
  int shared = 0;
};

struct Engine::Active {
  std::shared_ptr<Request> req;
  int reserved = 0;
  std::list<std::unique_ptr<Stream>> streams;
  std::vector<std::vector<double>> lp;  // (candidates, labels) Score accumulators
  std::vector<int> first_ids;           // distinct first label tokens (LABELS_ONLY)
  Rng rng{0};
  int generated = 0;
  bool prompt_published = false;
  Usage usage;
  Clock::time_point arrived, started, first_token, last_token;
  bool done = false;
};

Engine::Engine(Backend& backend, EngineOptions opt)
    : backend_(backend),
      opt_(opt),
      metrics_(opt.metrics ? opt.metrics : std::make_shared<Metrics>()),
      kv_(backend, static_cast<int>(opt.kv_budget_bytes / backend.kv_block_bytes(opt.block_tokens)),
          opt.block_tokens) {
  if (kv_.total_blocks() < 1)
    throw Error("kv budget of " + std::to_string(opt.kv_budget_bytes >> 20) +
                " MiB holds no KV block; one block of " + std::to_string(opt.block_tokens) +
                " tokens needs " + std::to_string(backend.kv_block_bytes(opt.block_tokens)) +
                " bytes");
  free_blocks_ = kv_.free_blocks();
  metrics_->kv_blocks(0, kv_.free_blocks(), 0);
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(); }

static int div_up(int a, int b) { return (a + b - 1) / b; }

bool Engine::multi_item(const ScoreSpec& s) const {
  if (!opt_.multi_item_scoring) return false;
  for (const auto& l : s.labels)
    if (l.size() != 1) return false;
  return true;
}

int Engine::blocks_needed(const Request& r) const {
  const int B = kv_.block_tokens();
  if (r.kind == Request::Generate)
    return div_up(static_cast<int>(r.generate.prompt.size()) + r.generate.max_tokens, B);
  const int p = static_cast<int>(r.score.prefix.size());
  int need = div_up(p, B);
  if (multi_item(r.score)) {  // the prefix's blocks, then one fork holding every candidate
    int total = 0;
    for (const auto& c : r.score.candidates) total += static_cast<int>(c.size());
    return need + div_up(p + total, B) - p / B;
  }
  for (const auto& c : r.score.candidates) {
    const int end = p + static_cast<int>(c.size());
    need += div_up(end, B) - p / B;
    for (const auto& l : r.score.labels)
      if (l.size() > 1) need += div_up(end + static_cast<int>(l.size()) - 1, B) - end / B;
  }
  return need;
}

Status Engine::validate(Request& r) const {
  const ModelConfig& c = backend_.config();
  auto bad_ids = [&](const std::vector<int>& ids, const std::string& what) -> Status {
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] >= c.vocab)
        return {Code::InvalidArgument, what + "[" + std::to_string(i) + "] = " +
                                           std::to_string(ids[i]) + " is outside the vocabulary [0, " +
                                           std::to_string(c.vocab) + ")"};
    return {};
  };
  const std::string ctx = std::to_string(c.max_context);
  if (r.kind == Request::Score) {
    const ScoreSpec& s = r.score;
    if (s.candidates.empty()) return {Code::InvalidArgument, "candidates: expected at least one"};
    if (s.labels.empty()) return {Code::InvalidArgument, "labels: expected at least one"};
    if (auto st = bad_ids(s.prefix, "prefix_ids"); !st.ok()) return st;
    size_t longest_label = 0;
    for (size_t l = 0; l < s.labels.size(); ++l) {
      const std::string what = "labels[" + std::to_string(l) + "].ids";
      if (s.labels[l].empty()) return {Code::InvalidArgument, what + ": expected at least one id"};
      if (s.labels_only && s.labels[l].size() != 1)
        return {Code::InvalidArgument, what + ": normalize LABELS_ONLY needs single-token labels, got " +
                                           std::to_string(s.labels[l].size()) + " tokens"};
      if (auto st = bad_ids(s.labels[l], what); !st.ok()) return st;
      longest_label = std::max(longest_label, s.labels[l].size());
    }
    for (size_t i = 0; i < s.candidates.size(); ++i) {
      const std::string what = "candidates[" + std::to_string(i) + "].ids";
      if (s.candidates[i].empty())
        return {Code::InvalidArgument, what + ": expected at least one id"};
      if (auto st = bad_ids(s.candidates[i], what); !st.ok()) return st;
      const size_t len = s.prefix.size() + s.candidates[i].size() + longest_label - 1;
      if (len > static_cast<size_t>(c.max_context))
        return {Code::InvalidArgument, "prefix + " + what + " + longest label = " +
                                           std::to_string(len) + " tokens exceeds the model context " + ctx};
    }
  } else {
    GenerateSpec& g = r.generate;
    if (g.prompt.empty()) return {Code::InvalidArgument, "prompt_ids: expected at least one id"};
    if (auto st = bad_ids(g.prompt, "prompt_ids"); !st.ok()) return st;
    if (auto st = bad_ids(g.stop_ids, "stop_ids"); !st.ok()) return st;
    if (g.prompt.size() >= static_cast<size_t>(c.max_context))
      return {Code::InvalidArgument, "prompt_ids: " + std::to_string(g.prompt.size()) +
                                         " tokens leave no room in the model context " + ctx};
    if (g.max_tokens <= 0) g.max_tokens = 256;
    // Generation past the context end stops with LENGTH, so reserve only what can be used.
    g.max_tokens = std::min(g.max_tokens, c.max_context - static_cast<int>(g.prompt.size()));
    const auto& sp = g.sampling;
    if (!(sp.temperature >= 0.f) || !std::isfinite(sp.temperature))
      return {Code::InvalidArgument, "temperature: expected a finite value >= 0"};
    if (!(sp.top_p >= 0.f && sp.top_p <= 1.f))
      return {Code::InvalidArgument, "top_p: expected a value in [0, 1]"};
  }
  const int need = blocks_needed(r);
  if (need > kv_.total_blocks())
    return {Code::ResourceExhausted,
            "request needs " + std::to_string(need) + " KV blocks of " +
                std::to_string(kv_.block_tokens()) + " tokens; the KV budget holds " +
                std::to_string(kv_.total_blocks())};
  return {};
}

Status Engine::submit(const std::shared_ptr<Request>& r) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return {Code::Unavailable, "server is shutting down"};
    if (!r->id.empty()) {
      auto it = by_id_.find(r->id);
      if (it != by_id_.end() && !it->second.expired())
        return {Code::InvalidArgument, "request_id '" + r->id + "' is already in flight"};
      by_id_[r->id] = r;
    }
    r->submitted = Clock::now();
    incoming_.push_back(r);
    metrics_->queued();
  }
  cv_.notify_all();
  return {};
}

bool Engine::abort(const std::string& id) {
  std::shared_ptr<Request> r;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    r = it->second.lock();
  }
  if (!r || r->finished()) return false;
  r->cancel();
  cv_.notify_all();
  return true;
}

void Engine::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------------------
// the engine thread

void Engine::finish(Active& a, Status st, FinishReason reason) {
  const auto now = Clock::now();
  for (auto& s : a.streams) kv_.release(s->seq);
  a.streams.clear();
  reserved_ -= a.reserved;
  a.reserved = 0;
  a.done = true;
  Request& r = *a.req;
  Timings t;
  t.queue_ms = ms_between(a.arrived, a.started);
  t.total_ms = ms_between(a.arrived, now);
  if (opt_.log) {
    static const char* names[] = {"ok", "invalid_argument", "resource_exhausted",
                                  "deadline_exceeded", "cancelled", "unavailable"};
    std::fprintf(stderr, "%s id=%s items=%zu normalize=%s prompt=%u cached=%u computed=%u "
                 "completion=%u total_ms=%.1f status=%s trace_id=%s span_id=%s\n",
                 r.kind == Request::Score ? "score" : "generate",
                 r.id.empty() ? "-" : r.id.c_str(),
                 r.kind == Request::Score ? r.score.candidates.size() : size_t{1},
                 r.kind != Request::Score ? "-" : r.score.labels_only ? "labels_only" : "full_vocab",
                 a.usage.prompt,
                 a.usage.cached, a.usage.computed, a.usage.completion, t.total_ms,
                 names[static_cast<int>(st.code)],
                 r.trace.present() ? r.trace.trace_id.c_str() : "-",
                 r.trace.present() ? r.trace.span_id.c_str() : "-");
  }
  if (r.kind == Request::Score) {
    t.prefill_ms = ms_between(a.started, now);
    if (st.ok()) {
      r.logprobs.assign(a.lp.size(), {});
      for (size_t c = 0; c < a.lp.size(); ++c)
        for (double v : a.lp[c]) r.logprobs[c].push_back(static_cast<float>(v));
    }
    r.usage = a.usage;
    r.timings = t;
  } else {
    const bool any = a.generated > 0;
    t.prefill_ms = ms_between(a.started, any ? a.first_token : now);
    t.decode_ms = any ? ms_between(a.first_token, a.last_token) : 0;
    GenEvent ev;
    ev.done = true;
    ev.reason = reason;
    ev.usage = a.usage;
    ev.timings = t;
    r.usage = a.usage;
    r.timings = t;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!r.id.empty()) by_id_.erase(r.id);
    }
    // Status first: the handler reads it as soon as it sees the Done event.
    r.finish(std::move(st));
    r.push(ev);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!r.id.empty()) by_id_.erase(r.id);
  }
  r.finish(std::move(st));
}

void Engine::start(Active& a) {
  Request& r = *a.req;
  a.started = Clock::now();
  auto s = std::make_unique<Stream>();
  if (r.kind == Request::Score) {
    const ScoreSpec& sp = r.score;
    a.lp.assign(sp.candidates.size(), std::vector<double>(sp.labels.size(), 0.0));
    std::set<int> firsts;
    for (const auto& l : sp.labels) firsts.insert(l[0]);
    a.first_ids.assign(firsts.begin(), firsts.end());
    a.usage.prompt = static_cast<uint32_t>(sp.prefix.size());
    for (const auto& c : sp.candidates) {
      a.usage.prompt += static_cast<uint32_t>(c.size());
      for (const auto& l : sp.labels) a.usage.prompt += static_cast<uint32_t>(l.size() - 1);
    }
    s->role = Stream::Prefix;
    const int cached = kv_.lookup(sp.prefix.data(), static_cast<int>(sp.prefix.size()), &s->seq);
    metrics_->prefix_lookup(static_cast<int>(sp.prefix.size()), cached);
    a.usage.cached = static_cast<uint32_t>(cached);
    s->toks = sp.prefix;
    s->fed = static_cast<size_t>(cached);
    Stream& ref = *s;
    a.streams.push_back(std::move(s));
    if (ref.fed == ref.toks.size()) on_stream_fed(a, ref);
  } else {
    const GenerateSpec& g = r.generate;
    a.rng = Rng(g.sampling.seed);
    a.usage.prompt = static_cast<uint32_t>(g.prompt.size());
    s->role = Stream::Generation;
    // Keep the last prompt token out of the lookup: its logits are needed for the first token.
    const int cached = kv_.lookup(g.prompt.data(), static_cast<int>(g.prompt.size()) - 1, &s->seq);
    metrics_->prefix_lookup(static_cast<int>(g.prompt.size()) - 1, cached);
    a.usage.cached = static_cast<uint32_t>(cached);
    s->toks = g.prompt;
    s->fed = static_cast<size_t>(cached);
    s->outs.push_back({g.prompt.size() - 1, true, {}, -1, g.sampling.temperature <= 0.f});
    a.streams.push_back(std::move(s));
  }
}

// Called when every token of `s` has been fed (its KV is complete).
void Engine::on_stream_fed(Active& a, Stream& s) {
  const ScoreSpec& sp = a.req->score;
  auto remove = [&](Stream& st) {
    kv_.release(st.seq);
    a.streams.remove_if([&](const std::unique_ptr<Stream>& p) { return p.get() == &st; });
  };
  if (s.role == Stream::Prefix && multi_item(sp)) {
    kv_.publish(sp.prefix.data(), static_cast<int>(sp.prefix.size()), s.seq);
    auto ms = std::make_unique<Stream>();
    ms->role = Stream::Items;
    BG_ASSERT(kv_.fork(s.seq, &ms->seq));
    ms->base = s.base + static_cast<int>(s.toks.size());
    ms->shared = ms->base;
    for (size_t c = 0; c < sp.candidates.size(); ++c) {
      const int lo = ms->base + static_cast<int>(ms->toks.size());
      ms->toks.insert(ms->toks.end(), sp.candidates[c].begin(), sp.candidates[c].end());
      ms->item_lo.insert(ms->item_lo.end(), sp.candidates[c].size(), lo);
      ms->outs.push_back({ms->toks.size() - 1, !sp.labels_only,
                          sp.labels_only ? a.first_ids : std::vector<int>{}, static_cast<int>(c)});
    }
    a.streams.push_back(std::move(ms));
    remove(s);
  } else if (s.role == Stream::Prefix) {
    kv_.publish(sp.prefix.data(), static_cast<int>(sp.prefix.size()), s.seq);
    for (size_t c = 0; c < sp.candidates.size(); ++c) {
      auto cs = std::make_unique<Stream>();
      cs->role = Stream::Candidate;
      cs->cand = static_cast<int>(c);
      BG_ASSERT(kv_.fork(s.seq, &cs->seq));
      cs->base = s.base + static_cast<int>(s.toks.size());
      cs->toks = sp.candidates[c];
      cs->outs.push_back({cs->toks.size() - 1, !sp.labels_only,
                          sp.labels_only ? a.first_ids : std::vector<int>{}});
      a.streams.push_back(std::move(cs));
    }
    remove(s);
  } else if (s.role == Stream::Candidate) {
    for (size_t l = 0; l < sp.labels.size(); ++l) {
      const auto& lab = sp.labels[l];
      if (lab.size() < 2) continue;
      auto bs = std::make_unique<Stream>();
      bs->role = Stream::LabelBranch;
      bs->cand = s.cand;
      bs->label = static_cast<int>(l);
      BG_ASSERT(kv_.fork(s.seq, &bs->seq));
      bs->base = s.base + static_cast<int>(s.toks.size());
      bs->toks.assign(lab.begin(), lab.end() - 1);
      for (size_t j = 0; j < bs->toks.size(); ++j) bs->outs.push_back({j, true, {}});
      a.streams.push_back(std::move(bs));
    }
    remove(s);
  } else if (s.role == Stream::LabelBranch || s.role == Stream::Items) {
    remove(s);
  }
  if (a.req->kind == Request::Score && a.streams.empty()) finish(a, {}, FinishReason::Stop);
}

void Engine::on_output(Active& a, Stream& s, int out, std::vector<float>& logits) {
  Request& r = *a.req;
  const Stream::Out& o = s.outs[out];
  if (r.kind == Request::Score) {
    const ScoreSpec& sp = r.score;
    if (s.role == Stream::Candidate || s.role == Stream::Items) {
      const int cand = s.role == Stream::Items ? o.cand : s.cand;
      if (sp.labels_only) {
        // logits are for a.first_ids, in that order
        const float lse = logsumexp(logits.data(), static_cast<int>(logits.size()));
        for (size_t l = 0; l < sp.labels.size(); ++l) {
          const size_t k = std::lower_bound(a.first_ids.begin(), a.first_ids.end(), sp.labels[l][0]) -
                           a.first_ids.begin();
          a.lp[cand][l] += logits[k] - lse;
        }
      } else {
        const float lse = logsumexp(logits.data(), static_cast<int>(logits.size()));
        for (size_t l = 0; l < sp.labels.size(); ++l) a.lp[cand][l] += logits[sp.labels[l][0]] - lse;
      }
    } else {
      BG_ASSERT(s.role == Stream::LabelBranch);
      const int next = sp.labels[s.label][o.idx + 1];
      a.lp[s.cand][s.label] +=
          logits[next] - logsumexp(logits.data(), static_cast<int>(logits.size()));
    }
    return;
  }
  const GenerateSpec& g = r.generate;
  const ModelConfig& c = backend_.config();
  if (!a.prompt_published) {
    kv_.publish(g.prompt.data(), static_cast<int>(g.prompt.size()), s.seq);
    a.prompt_published = true;
  }
  // Greedy outputs arrive reduced ({token, logprob}, same choice and ties as sample()).
  const int tok = o.argmax ? static_cast<int>(logits[0]) : sample(logits, g.sampling, a.rng);
  GenEvent ev;
  ev.token = tok;
  ev.logprob = o.argmax ? logits[1]
                        : logits[tok] - logsumexp(logits.data(), static_cast<int>(logits.size()));
  const auto now = Clock::now();
  if (a.generated == 0) a.first_token = now;
  a.last_token = now;
  ++a.generated;
  a.usage.completion = static_cast<uint32_t>(a.generated);
  metrics_->generated(1);
  r.push(ev);
  const bool stop = std::find(g.stop_ids.begin(), g.stop_ids.end(), tok) != g.stop_ids.end() ||
                    std::find(c.eos.begin(), c.eos.end(), tok) != c.eos.end();
  if (stop) return finish(a, {}, FinishReason::Stop);
  if (a.generated >= g.max_tokens || static_cast<int>(s.toks.size()) >= c.max_context)
    return finish(a, {}, FinishReason::Length);
  s.toks.push_back(tok);
  s.outs.push_back({s.toks.size() - 1, true, {}, -1, g.sampling.temperature <= 0.f});
}

void Engine::step(std::list<std::unique_ptr<Active>>& active) {
  struct Piece {
    Active* a;
    Stream* s;
    size_t begin, end;       // toks range fed this step
    std::vector<int> outs;   // indices into s->outs
  };
  const auto t0 = Clock::now();
  std::vector<Piece> pieces;
  std::vector<SeqChunk> chunks;
  std::vector<OutputRequest> outputs;
  std::vector<std::pair<int, int>> out_owner;  // output -> (piece, out index)
  int budget = opt_.max_batch_tokens;
  // Decode tokens first (one each) so generation latency does not wait behind prefill.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& ap : active) {
      for (auto& sp : ap->streams) {
        Stream& s = *sp;
        const size_t left = s.toks.size() - s.fed;
        if (left == 0 || budget <= 0) continue;
        const bool decode = s.role == Stream::Generation && left == 1 && s.fed > 0;
        if ((pass == 0) != decode) continue;
        const size_t n = std::min<size_t>(left, static_cast<size_t>(budget));
        if (!kv_.grow(s.seq, s.base + static_cast<int>(s.fed + n))) {
          // Admission reserves every block a request can need, so this is a broken invariant.
          std::cerr << "engine: KV allocation failed despite reservation\n";
          std::abort();
        }
        Piece p{ap.get(), &s, s.fed, s.fed + n, {}};
        while (s.next_out < s.outs.size() && s.outs[s.next_out].idx < p.end) {
          const Stream::Out& o = s.outs[s.next_out];
          out_owner.push_back({static_cast<int>(pieces.size()), static_cast<int>(s.next_out)});
          outputs.push_back({static_cast<int>(pieces.size()), static_cast<int>(o.idx - p.begin),
                             o.full, o.ids, o.argmax});
          ++s.next_out;
        }
        chunks.push_back({&s.seq.blocks, s.base + static_cast<int>(p.begin),
                          std::vector<int>(s.toks.begin() + p.begin, s.toks.begin() + p.end)});
        if (!s.item_lo.empty()) {
          chunks.back().shared = s.shared;
          chunks.back().item_lo.assign(s.item_lo.begin() + p.begin, s.item_lo.begin() + p.end);
        }
        budget -= static_cast<int>(n);
        pieces.push_back(std::move(p));
      }
    }
  }
  if (chunks.empty()) return;
  std::vector<std::vector<float>> results;
  backend_.forward(chunks, outputs, &results);
  int prefill = 0, decode = 0;
  for (auto& p : pieces) {
    p.a->usage.computed += static_cast<uint32_t>(p.end - p.begin);
    p.s->fed = p.end;
    // A Generation stream's tokens past the prompt are generated ones fed back. The phase is
    // told by position, not by the step pass: a prompt whose KV was cached up to its last
    // token feeds that token alone, as a decode step would.
    const size_t prompt = p.s->role == Stream::Generation ? p.a->req->generate.prompt.size()
                                                           : p.end;
    const int pre = static_cast<int>(std::min(p.end, prompt) - std::min(p.begin, prompt));
    prefill += pre;
    decode += static_cast<int>(p.end - p.begin) - pre;
  }
  // Counted before any request hears of this step's results, so a client that has its answer
  // finds its work in a scrape.
  metrics_->computed(prefill, decode);
  metrics_->step(prefill + decode, std::chrono::duration<double>(Clock::now() - t0).count());
  // Results are handled in step order; a request that finishes skips the rest of its pieces.
  for (size_t i = 0; i < outputs.size(); ++i) {
    Piece& p = pieces[out_owner[i].first];
    if (p.a->done) continue;
    on_output(*p.a, *p.s, out_owner[i].second, results[i]);
  }
  for (auto& p : pieces) {
    if (p.a->done || p.s->role == Stream::Generation) continue;
    if (p.s->fed == p.s->toks.size()) on_stream_fed(*p.a, *p.s);
  }
}

void Engine::loop() {
  std::list<std::unique_ptr<Active>> active;
  std::deque<std::unique_ptr<Active>> waiting;
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lk(mu_);
      if (active.empty() && waiting.empty() && incoming_.empty() && !stopping_) {
        // Wake periodically to notice nothing is lost; requests wake us immediately.
        cv_.wait_for(lk, std::chrono::milliseconds(100));
      }
      while (!incoming_.empty()) {
        auto a = std::make_unique<Active>();
        a->req = std::move(incoming_.front());
        a->arrived = a->req->submitted;
        incoming_.pop_front();
        waiting.push_back(std::move(a));
      }
      stopping = stopping_;
    }
    const auto now = Clock::now();
    auto expire = [&](Active& a) -> bool {
      Request& r = *a.req;
      if (a.started == Clock::time_point()) a.started = now;
      if (stopping) {
        finish(a, {Code::Unavailable, "server is shutting down"}, FinishReason::Cancelled);
      } else if (r.cancelled()) {
        finish(a, {Code::Cancelled, "request cancelled"}, FinishReason::Cancelled);
      } else if (now >= r.deadline) {
        finish(a, {Code::DeadlineExceeded, "deadline exceeded after " +
                                               std::to_string(ms_between(a.arrived, now)) + " ms"},
               FinishReason::Deadline);
      } else {
        return false;
      }
      return true;
    };
    for (auto it = active.begin(); it != active.end();)
      it = expire(**it) ? active.erase(it) : std::next(it);
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (!expire(**it)) {
        ++it;
      } else {
        it = waiting.erase(it);
        metrics_->dequeued();
      }
    }
    if (stopping) return;
    // Admit in arrival order while the KV budget can promise each request all it may need.
    while (!waiting.empty() && static_cast<int>(active.size()) < opt_.max_active) {
      Active& a = *waiting.front();
      const int need = blocks_needed(*a.req);
      if (reserved_ + need > kv_.total_blocks()) break;
      reserved_ += need;
      a.reserved = need;
      metrics_->dequeued();
      start(a);
      if (a.done) {
        waiting.pop_front();
        continue;
      }
      active.push_back(std::move(waiting.front()));
      waiting.pop_front();
    }
    metrics_->set_running(static_cast<int>(active.size()));
    if (!active.empty()) step(active);
    for (auto it = active.begin(); it != active.end();)
      it = (*it)->done ? active.erase(it) : std::next(it);
    cached_blocks_ = kv_.cached_blocks();
    free_blocks_ = kv_.free_blocks();
    // KV first: a scrape that sees a request stop running sees the blocks it freed.
    metrics_->kv_blocks(kv_.total_blocks() - kv_.free_blocks(), kv_.free_blocks(),
                        kv_.cached_blocks());
    metrics_->set_running(static_cast<int>(active.size()));
  }
}

}  // namespace bg
