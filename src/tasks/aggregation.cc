#include "tanzhen/tasks/aggregation.h"

#include <algorithm>
#include <cmath>

#include "tanzhen/error.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {

void softmax(const float* logits, int n, float* out) {
  if (n <= 0) return;
  float m = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - m);
  for (int i = 0; i < n; ++i) out[i] = static_cast<float>(std::exp(static_cast<double>(logits[i]) - m) / sum);
}

const char* aggregation_name(Aggregation a) {
  switch (a) {
    case Aggregation::kSimple: return "simple";
    case Aggregation::kFirst: return "first";
    case Aggregation::kAverage: return "average";
    case Aggregation::kMax: return "max";
  }
  return "?";
}

Aggregation parse_aggregation(const std::string& name) {
  for (Aggregation a : {Aggregation::kSimple, Aggregation::kFirst, Aggregation::kAverage, Aggregation::kMax})
    if (name == aggregation_name(a)) return a;
  fail("invalid_option", "unknown aggregation '" + name + "' (expected simple, first, average or max)");
}

namespace {

// Index of the largest value; ties go to the lowest index (numpy argmax).
int argmax(const float* v, int n) {
  return static_cast<int>(std::max_element(v, v + n) - v);
}

LabelUnit word_unit(const Matrix& probs, int first, int last, Aggregation strategy) {
  const int n = probs.cols;
  LabelUnit u{first, last, 0, 0};
  switch (strategy) {
    case Aggregation::kSimple:
    case Aggregation::kFirst: {
      const float* p = probs.row(first);
      u.label = argmax(p, n);
      u.score = p[u.label];
      break;
    }
    case Aggregation::kAverage: {
      std::vector<float> avg(n, 0.f);
      for (int t = first; t <= last; ++t)
        for (int j = 0; j < n; ++j) avg[j] += probs.row(t)[j];
      for (float& a : avg) a /= static_cast<float>(last - first + 1);
      u.label = argmax(avg.data(), n);
      u.score = avg[u.label];
      break;
    }
    case Aggregation::kMax: {
      int best_t = first;
      float best = -1;
      for (int t = first; t <= last; ++t) {
        float m = probs.row(t)[argmax(probs.row(t), n)];
        if (m > best) best = m, best_t = t;
      }
      u.label = argmax(probs.row(best_t), n);
      u.score = probs.row(best_t)[u.label];
      break;
    }
  }
  return u;
}

}  // namespace

std::vector<LabelUnit> aggregate_units(const Matrix& probs, const std::vector<int>& word_ids,
                                       Aggregation strategy) {
  const int len = static_cast<int>(word_ids.size());
  if (probs.rows != len) fail("internal", "aggregate_units: probabilities and word ids differ in length");
  std::vector<LabelUnit> units;
  for (int t = 0; t < len;) {
    if (word_ids[t] < 0) {
      ++t;
      continue;
    }
    int last = t;
    if (strategy != Aggregation::kSimple)
      while (last + 1 < len && word_ids[last + 1] == word_ids[t]) ++last;
    units.push_back(word_unit(probs, t, last, strategy));
    t = last + 1;
  }
  return units;
}

std::vector<Entity> entities_from_units(const std::vector<LabelUnit>& units,
                                        const std::vector<Tag>& label_tags,
                                        const std::vector<Span>& offsets,
                                        const std::u32string& text) {
  std::vector<Tag> tags;
  tags.reserve(units.size());
  for (const auto& u : units) {
    if (u.label < 0 || u.label >= static_cast<int>(label_tags.size()))
      fail("internal", "label id outside the model's label set");
    tags.push_back(label_tags[u.label]);
  }
  std::vector<Entity> entities;
  for (const UnitSpan& s : decode_spans(tags)) {
    Entity e;
    e.type = s.type;
    e.start = offsets.at(units[s.first].first_token).start;
    e.end = offsets.at(units[s.last].last_token).end;
    double sum = 0;
    for (int i = s.first; i <= s.last; ++i) sum += units[i].score;
    e.score = static_cast<float>(sum / (s.last - s.first + 1));
    int a = std::clamp(e.start, 0, static_cast<int>(text.size()));
    int b = std::clamp(e.end, a, static_cast<int>(text.size()));
    e.text = encode_utf8(std::u32string_view(text).substr(a, b - a));
    entities.push_back(std::move(e));
  }
  return entities;
}

}  // namespace tanzhen
