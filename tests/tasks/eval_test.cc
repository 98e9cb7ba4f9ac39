// Entity metrics against conlleval numbers worked out by hand, the error breakdown, type maps,
// the gold data format and the fill-mask masking.
#include "tanzhen/tasks/eval.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tanzhen/error.h"
#include "tanzhen/tasks/tag_scheme.h"
#include "test_paths.h"

namespace tanzhen {
namespace {

// BIO tags (space separated) -> chunks as conlleval finds them, as code-point spans.
std::vector<LabeledSpan> chunks(const std::string& tags) {
  std::istringstream in(tags);
  std::vector<std::string> labels;
  for (std::string t; in >> t;) labels.push_back(t);
  std::vector<LabeledSpan> out;
  for (const UnitSpan& s : decode_spans(parse_tags(labels))) out.push_back({s.type, s.first, s.last + 1});
  return out;
}

// Four sentences of gold / predicted BIO tags. conlleval's counts, by hand (chunk = type + first
// and last token, tokens numbered from 0; conlleval starts a chunk at B-, at an I- after O, and
// at an I- whose type differs from the open chunk's):
//
// S1 gold B-PER I-PER O B-LOC I-LOC O O        chunks PER[0,1] LOC[3,4]
//    pred B-PER I-PER O B-LOC O     O O        chunks PER[0,1] LOC[3,3]          correct: PER[0,1]
// S2 gold O I-ORG I-ORG O B-PER O O     O      chunks ORG[1,2] (I- without B- starts it) PER[4,4]
//    pred O B-ORG I-ORG O B-LOC O B-PER I-PER  chunks ORG[1,2] LOC[4,4] PER[6,7] correct: ORG[1,2]
// S3 gold B-LOC I-PER O B-ORG I-ORG I-ORG      chunks LOC[0,0] PER[1,1] (I-PER after B-LOC starts
//                                              a chunk) ORG[3,5]
//    pred B-LOC B-PER O B-ORG I-ORG O          chunks LOC[0,0] PER[1,1] ORG[3,4] correct: LOC, PER
// S4 gold B-PER B-PER                          chunks PER[0,0] PER[1,1]
//    pred B-PER I-PER                          chunks PER[0,1]                   correct: none
//
// found correct (gold chunks) = 2 + 2 + 3 + 2 = 9, found guessed = 2 + 3 + 3 + 1 = 9,
// correct chunks = 1 + 1 + 2 + 0 = 4:
//   precision = 4/9, recall = 4/9, FB1 = 4/9.
// Per type (gold / guessed / correct):
//   PER: S1 1/1/1, S2 1/1/0, S3 1/1/1, S4 2/1/0 -> 5/4/2: P = 2/4, R = 2/5, F = 2*2/(4+5) = 4/9
//   LOC: S1 1/1/0, S2 0/1/0, S3 1/1/1           -> 2/3/1: P = 1/3, R = 1/2, F = 2*1/(3+2) = 2/5
//   ORG: S2 1/1/1, S3 1/1/0                     -> 2/2/1: P = R = F = 1/2
struct TagCase {
  const char* gold;
  const char* pred;
};
const TagCase kConllCases[] = {
    {"B-PER I-PER O B-LOC I-LOC O O", "B-PER I-PER O B-LOC O O O"},
    {"O I-ORG I-ORG O B-PER O O O", "O B-ORG I-ORG O B-LOC O B-PER I-PER"},
    {"B-LOC I-PER O B-ORG I-ORG I-ORG", "B-LOC B-PER O B-ORG I-ORG O"},
    {"B-PER B-PER", "B-PER I-PER"},
};

EntityScores score_conll_cases() {
  EntityScorer scorer;
  for (const TagCase& c : kConllCases) scorer.add(chunks(c.gold), chunks(c.pred));
  return scorer.scores();
}

TEST(EntityScorer, MatchesConllevalOnHandCountedBioCase) {
  const EntityScores s = score_conll_cases();
  EXPECT_EQ(s.sentences, 4);
  EXPECT_EQ(s.overall.tp, 4);
  EXPECT_EQ(s.overall.tp + s.overall.fp, 9);  // found guessed
  EXPECT_EQ(s.overall.tp + s.overall.fn, 9);  // found correct
  EXPECT_DOUBLE_EQ(s.overall.precision(), 4.0 / 9);
  EXPECT_DOUBLE_EQ(s.overall.recall(), 4.0 / 9);
  EXPECT_DOUBLE_EQ(s.overall.f1(), 4.0 / 9);

  ASSERT_EQ(s.per_type.size(), 3u);
  const PrfCounts& per = s.per_type.at("PER");
  EXPECT_DOUBLE_EQ(per.precision(), 2.0 / 4);
  EXPECT_DOUBLE_EQ(per.recall(), 2.0 / 5);
  EXPECT_DOUBLE_EQ(per.f1(), 4.0 / 9);
  const PrfCounts& loc = s.per_type.at("LOC");
  EXPECT_DOUBLE_EQ(loc.precision(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(loc.recall(), 1.0 / 2);
  EXPECT_DOUBLE_EQ(loc.f1(), 2.0 / 5);
  const PrfCounts& org = s.per_type.at("ORG");
  EXPECT_DOUBLE_EQ(org.precision(), 0.5);
  EXPECT_DOUBLE_EQ(org.recall(), 0.5);
  EXPECT_DOUBLE_EQ(org.f1(), 0.5);
}

// The 5 wrong predictions above, by hand: S1 LOC[3,3] overlaps gold LOC[3,4] (boundary); S2
// LOC[4,4] has gold PER[4,4]'s span (type), PER[6,7] touches no gold (spurious); S3 ORG[3,4]
// overlaps ORG[3,5] (boundary); S4 PER[0,1] overlaps PER[0,0] and PER[1,1] (boundary, once).
// Every unmatched gold entity is overlapped by some prediction, so none is missed.
TEST(EntityScorer, ClassifiesErrors) {
  const EntityScores s = score_conll_cases();
  EXPECT_EQ(s.errors.boundary, 3);
  EXPECT_EQ(s.errors.type, 1);
  EXPECT_EQ(s.errors.spurious, 1);
  EXPECT_EQ(s.errors.missed, 0);
  EXPECT_EQ(s.errors.boundary + s.errors.type + s.errors.spurious, s.overall.fp);
}

TEST(EntityScorer, MissedAndEmptyPredictions) {
  EntityScorer scorer;
  scorer.add({{"PER", 0, 2}, {"LOC", 5, 7}}, {});
  const EntityScores& s = scorer.scores();
  EXPECT_EQ(s.overall.fn, 2);
  EXPECT_EQ(s.errors.missed, 2);
  // conlleval prints 0 precision when nothing was guessed, and 0 FB1 when P + R = 0.
  EXPECT_EQ(s.overall.precision(), 0.0);
  EXPECT_EQ(s.overall.recall(), 0.0);
  EXPECT_EQ(s.overall.f1(), 0.0);
}

TEST(EntityScorer, OrderDoesNotMatterAndDuplicatesMatchOnce) {
  EntityScorer scorer;
  scorer.add({{"LOC", 5, 7}, {"PER", 0, 2}}, {{"PER", 0, 2}, {"LOC", 5, 7}, {"PER", 0, 2}});
  const EntityScores& s = scorer.scores();
  EXPECT_EQ(s.overall.tp, 2);
  EXPECT_EQ(s.overall.fp, 1);
  EXPECT_EQ(s.overall.fn, 0);
  EXPECT_EQ(s.errors.spurious, 1);
}

TEST(TypeMap, RenamesMappedTypesAndKeepsOthers) {
  TypeMap m = TypeMap::parse(" name=PER, address = LOC ,scene=LOC");
  EXPECT_EQ(m.apply("name"), "PER");
  EXPECT_EQ(m.apply("address"), "LOC");
  EXPECT_EQ(m.apply("scene"), "LOC");
  EXPECT_EQ(m.apply("game"), "game");
  std::vector<LabeledSpan> spans{{"name", 0, 1}, {"book", 1, 2}};
  m.apply(spans);
  EXPECT_EQ(spans[0].type, "PER");
  EXPECT_EQ(spans[1].type, "book");
  EXPECT_TRUE(TypeMap::parse("").empty());
}

TEST(TypeMap, MappingBothSidesMergesTypes) {
  // Gold says address, the model says scene; both are LOC after mapping, so it is a hit.
  TypeMap m = TypeMap::parse("address=LOC,scene=LOC");
  std::vector<LabeledSpan> gold{{"address", 0, 3}}, pred{{"scene", 0, 3}};
  m.apply(gold);
  m.apply(pred);
  EntityScorer scorer;
  scorer.add(gold, pred);
  EXPECT_EQ(scorer.scores().overall.tp, 1);
  EXPECT_EQ(scorer.scores().per_type.count("LOC"), 1u);
}

TEST(TypeMap, RejectsMalformedSpecs) {
  for (const char* bad : {"name", "name=", "=PER", "a=b=c", "a=X,,b=Y", "a=X,a=Y"}) {
    try {
      TypeMap::parse(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), "invalid_option") << bad;
    }
  }
}

TEST(TypeFilter, DropsUnlistedTypesFromBothSides) {
  // CLUENER-style gold with a type the model cannot predict: without the filter the book is a
  // miss; with it only PER and LOC are scored (the predicted ORG is dropped too).
  const TypeFilter f = TypeFilter::parse(" PER , LOC");
  EXPECT_TRUE(f.keeps("PER"));
  EXPECT_FALSE(f.keeps("book"));
  std::vector<LabeledSpan> gold{{"PER", 0, 2}, {"book", 3, 6}, {"LOC", 7, 9}};
  std::vector<LabeledSpan> pred{{"PER", 0, 2}, {"ORG", 3, 6}, {"LOC", 7, 8}};
  f.apply(gold);
  f.apply(pred);
  EXPECT_EQ(gold, (std::vector<LabeledSpan>{{"PER", 0, 2}, {"LOC", 7, 9}}));
  EXPECT_EQ(pred, (std::vector<LabeledSpan>{{"PER", 0, 2}, {"LOC", 7, 8}}));
  EntityScorer scorer;
  scorer.add(gold, pred);
  EXPECT_EQ(scorer.scores().overall.tp, 1);
  EXPECT_EQ(scorer.scores().overall.fp, 1);
  EXPECT_EQ(scorer.scores().overall.fn, 1);
  EXPECT_EQ(scorer.scores().per_type.count("book"), 0u);
  EXPECT_EQ(scorer.scores().per_type.count("ORG"), 0u);
}

TEST(TypeFilter, NamesTheListedTypesMissingFromAKnownSet) {
  const TypeFilter f = TypeFilter::parse("PER,PRE,LOC");
  EXPECT_EQ(f.missing_from({"LOC", "ORG", "PER"}), (std::vector<std::string>{"PRE"}));
  EXPECT_TRUE(f.missing_from({"LOC", "PER", "PRE"}).empty());
  EXPECT_TRUE(TypeFilter::parse("").missing_from({}).empty());
}

TEST(TypeFilter, EmptySpecKeepsEverythingAndBadSpecsAreRejected) {
  const TypeFilter all = TypeFilter::parse("  ");
  EXPECT_TRUE(all.empty());
  EXPECT_TRUE(all.keeps("anything"));
  std::vector<LabeledSpan> spans{{"book", 0, 1}};
  all.apply(spans);
  EXPECT_EQ(spans.size(), 1u);
  for (const char* bad : {"PER,", ",PER", "PER,,LOC", "PER, ,LOC"}) {
    try {
      TypeFilter::parse(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), "invalid_option") << bad;
    }
  }
}

TEST(NerExample, ParsesCodePointOffsets) {
  NerExample ex = parse_ner_example(
      R"({"text": "我在北京", "entities": [{"start": 2, "end": 4, "type": "LOC"}], "id": 7})", 1);
  EXPECT_EQ(ex.text, "我在北京");
  ASSERT_EQ(ex.entities.size(), 1u);
  EXPECT_EQ(ex.entities[0], (LabeledSpan{"LOC", 2, 4}));
}

TEST(NerExample, RejectsBadLinesWithTheLineNumber) {
  const char* bad[] = {
      "not json",
      "[1, 2]",
      R"({"entities": []})",
      R"({"text": "北京"})",
      R"({"text": "北京", "entities": [{"start": 0, "end": 3, "type": "LOC"}]})",  // past the end
      R"({"text": "北京", "entities": [{"start": 1, "end": 1, "type": "LOC"}]})",  // empty
      R"({"text": "北京", "entities": [{"start": 0, "end": 2}]})",
      R"({"text": "北京", "entities": [{"start": "0", "end": 2, "type": "LOC"}]})",
  };
  for (const char* line : bad) {
    try {
      parse_ner_example(line, 42);
      ADD_FAILURE() << line;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), "bad_data") << line;
      EXPECT_NE(std::string(e.what()).find("line 42"), std::string::npos) << e.what();
    }
  }
}

TEST(NerExample, ReadsTheSharedMsraFile) {
  const std::string path = testing::shared_dir() + "/data/msra/train.jsonl";
  std::vector<NerExample> examples = read_ner_examples(path, 3);
  ASSERT_EQ(examples.size(), 3u);
  // Third line of msra/train.jsonl: 因有关日寇在京掠夺文物详情，... with LOC at 3-4, 6-7, 27-29.
  ASSERT_EQ(examples[2].entities.size(), 3u);
  EXPECT_EQ(examples[2].entities[0], (LabeledSpan{"LOC", 3, 4}));
  EXPECT_EQ(examples[2].entities[2], (LabeledSpan{"LOC", 27, 29}));
}

TEST(Sentences, ReadsJsonlTextOrPlainLines) {
  const std::string dir = testing::make_temp_dir("eval_sentences");
  {
    std::ofstream(dir + "/s.jsonl") << "{\"text\": \"甲乙\"}\n\n{\"text\": \"丙\", \"x\": 1}\r\n";
    std::ofstream(dir + "/s.txt") << "甲乙\r\n  \n丙丁\n";
  }
  EXPECT_EQ(read_sentences(dir + "/s.jsonl"), (std::vector<std::string>{"甲乙", "丙"}));
  EXPECT_EQ(read_sentences(dir + "/s.txt"), (std::vector<std::string>{"甲乙", "丙丁"}));
  EXPECT_EQ(read_sentences(dir + "/s.txt", 1), (std::vector<std::string>{"甲乙"}));
  EXPECT_THROW(read_sentences(dir + "/missing.txt"), Error);
}

TEST(MaskPositions, ChoosesRoundedRateOfDistinctCandidates) {
  std::vector<int> candidates{0, 2, 3, 5, 8, 9, 11, 12, 13, 20};
  std::mt19937 rng(1);
  std::vector<int> p = choose_mask_positions(candidates, 0.15, rng);  // round(1.5) = 2
  EXPECT_EQ(p.size(), 2u);
  EXPECT_TRUE(std::is_sorted(p.begin(), p.end()));
  EXPECT_EQ(std::set<int>(p.begin(), p.end()).size(), p.size());
  for (int x : p) EXPECT_NE(std::find(candidates.begin(), candidates.end(), x), candidates.end());
  EXPECT_EQ(choose_mask_positions(candidates, 0.01, rng).size(), 1u);  // at least one
  EXPECT_EQ(choose_mask_positions(candidates, 1.0, rng), candidates);  // all of them
  EXPECT_TRUE(choose_mask_positions({}, 0.5, rng).empty());
  EXPECT_THROW(choose_mask_positions(candidates, 0.0, rng), Error);
  EXPECT_THROW(choose_mask_positions(candidates, 1.5, rng), Error);
}

TEST(MaskPositions, SameSeedSameMasks) {
  std::vector<int> candidates(40);
  for (int i = 0; i < 40; ++i) candidates[i] = i;
  std::mt19937 a(7), b(7);
  for (int round = 0; round < 5; ++round)
    EXPECT_EQ(choose_mask_positions(candidates, 0.2, a), choose_mask_positions(candidates, 0.2, b));
}

TEST(MaskAccuracy, CountsTop1AndTop5) {
  MaskAccuracy acc;
  acc.add("京", {"京", "海", "州", "东", "南"});
  acc.add("京", {"海", "州", "东", "南", "京", "西"});
  acc.add("京", {"海", "州", "东", "南", "西", "京"});  // sixth: not top-5
  acc.add("京", {});
  EXPECT_EQ(acc.masks, 4);
  EXPECT_EQ(acc.top1, 1);
  EXPECT_EQ(acc.top5, 2);
  EXPECT_DOUBLE_EQ(acc.top1_accuracy(), 0.25);
  EXPECT_DOUBLE_EQ(acc.top5_accuracy(), 0.5);
}

}  // namespace
}  // namespace tanzhen
