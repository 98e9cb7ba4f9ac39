// Tag parsing, scheme detection and the span rules (conlleval repair; ModelScope RaNER).
#include "tanzhen/tasks/tag_scheme.h"

#include <gtest/gtest.h>

namespace tanzhen {
namespace {

std::vector<Tag> tags(std::initializer_list<const char*> labels) {
  std::vector<Tag> out;
  for (const char* l : labels) out.push_back(parse_tag(l));
  return out;
}

TEST(TagScheme, ParsesPrefixesAndNormalisesSynonyms) {
  EXPECT_EQ(parse_tag("O"), (Tag{'O', ""}));
  EXPECT_EQ(parse_tag("B-PER"), (Tag{'B', "PER"}));
  EXPECT_EQ(parse_tag("I_LOC"), (Tag{'I', "LOC"}));
  EXPECT_EQ(parse_tag("M-ORG"), (Tag{'I', "ORG"}));
  EXPECT_EQ(parse_tag("E-ORG"), (Tag{'E', "ORG"}));
  EXPECT_EQ(parse_tag("S-PER"), (Tag{'S', "PER"}));
  EXPECT_EQ(parse_tag("L-PER"), (Tag{'E', "PER"}));
  EXPECT_EQ(parse_tag("U-PER"), (Tag{'S', "PER"}));
  EXPECT_EQ(parse_tag("PER"), (Tag{'I', "PER"}));          // bare type = IO tag
  EXPECT_EQ(parse_tag("B-name"), (Tag{'B', "name"}));      // CLUENER-style lower-case types
  EXPECT_EQ(parse_tag("X"), (Tag{'O', ""}));
  EXPECT_EQ(parse_tag("[CLS]"), (Tag{'O', ""}));
  EXPECT_EQ(parse_tag("Bob"), (Tag{'I', "Bob"}));  // no separator: a bare type, not "B-ob"
}

TEST(TagScheme, DetectsSchemeFromLabelSet) {
  EXPECT_EQ(detect_tag_scheme({"O", "B-PER", "I-PER", "B-LOC", "I-LOC"}), TagScheme::kBIO);
  EXPECT_EQ(detect_tag_scheme({"O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"}), TagScheme::kBIOES);
  EXPECT_EQ(detect_tag_scheme({"O", "B-LOC", "M-LOC", "E-LOC", "S-LOC"}), TagScheme::kBMES);
  EXPECT_EQ(detect_tag_scheme({"O", "B-LOC", "I-LOC", "L-LOC", "U-LOC"}), TagScheme::kBIOES);
  EXPECT_EQ(detect_tag_scheme({"O", "I-PER", "I-LOC"}), TagScheme::kIO);
  EXPECT_EQ(detect_tag_scheme({"O", "PER", "LOC"}), TagScheme::kIO);
}

TEST(DecodeSpans, Bio) {
  EXPECT_EQ(decode_spans(tags({"B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"})),
            (std::vector<UnitSpan>{{"PER", 0, 1}, {"LOC", 3, 3}, {"LOC", 4, 5}}));
  EXPECT_EQ(decode_spans(tags({"O", "O"})), std::vector<UnitSpan>{});
  EXPECT_EQ(decode_spans(tags({})), std::vector<UnitSpan>{});
  // Open at the end is emitted.
  EXPECT_EQ(decode_spans(tags({"O", "B-ORG", "I-ORG"})), (std::vector<UnitSpan>{{"ORG", 1, 2}}));
}

TEST(DecodeSpans, RepairsOrphanInsideAsBegin) {
  // I- without B- starts an entity.
  EXPECT_EQ(decode_spans(tags({"O", "I-PER", "I-PER", "O"})), (std::vector<UnitSpan>{{"PER", 1, 2}}));
  // I-LOC after B-PER: the PER entity ends, a LOC entity starts.
  EXPECT_EQ(decode_spans(tags({"B-PER", "I-LOC", "I-LOC"})),
            (std::vector<UnitSpan>{{"PER", 0, 0}, {"LOC", 1, 2}}));
  // I- right after a closed (E-) entity starts a new one.
  EXPECT_EQ(decode_spans(tags({"B-LOC", "E-LOC", "I-LOC", "E-LOC"})),
            (std::vector<UnitSpan>{{"LOC", 0, 1}, {"LOC", 2, 3}}));
}

TEST(DecodeSpans, Bioes) {
  EXPECT_EQ(decode_spans(tags({"S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "S-ORG", "S-ORG"})),
            (std::vector<UnitSpan>{{"PER", 0, 0}, {"LOC", 1, 3}, {"ORG", 5, 5}, {"ORG", 6, 6}}));
  // B-/M- (BMES) behave as B-/I-.
  EXPECT_EQ(decode_spans(tags({"B-LOC", "M-LOC", "M-LOC", "E-LOC"})), (std::vector<UnitSpan>{{"LOC", 0, 3}}));
  // E without B is a one-unit entity; E of another type closes the open one first.
  EXPECT_EQ(decode_spans(tags({"O", "E-PER", "B-LOC", "E-ORG"})),
            (std::vector<UnitSpan>{{"PER", 1, 1}, {"LOC", 2, 2}, {"ORG", 3, 3}}));
  // S inside an open entity closes it.
  EXPECT_EQ(decode_spans(tags({"B-LOC", "I-LOC", "S-PER", "I-LOC"})),
            (std::vector<UnitSpan>{{"LOC", 0, 1}, {"PER", 2, 2}, {"LOC", 3, 3}}));
  // B without E still yields the entity.
  EXPECT_EQ(decode_spans(tags({"B-LOC", "I-LOC", "O"})), (std::vector<UnitSpan>{{"LOC", 0, 1}}));
}

TEST(DecodeSpans, IoMergesRunsOfOneType) {
  EXPECT_EQ(decode_spans(tags({"PER", "PER", "LOC", "O", "LOC"})),
            (std::vector<UnitSpan>{{"PER", 0, 1}, {"LOC", 2, 2}, {"LOC", 4, 4}}));
}

TEST(DecodeSpansModelScope, FollowsRaNerRules) {
  // O does not close an open entity: a later I/E still extends it.
  EXPECT_EQ(decode_spans_modelscope(tags({"B-LOC", "O", "E-LOC"})), (std::vector<UnitSpan>{{"LOC", 0, 2}}));
  // ... but an entity followed only by O ends at its last tagged word.
  EXPECT_EQ(decode_spans_modelscope(tags({"B-LOC", "O", "O"})), (std::vector<UnitSpan>{{"LOC", 0, 0}}));
  // I/E extend whatever the type (the entity keeps the type it was opened with).
  EXPECT_EQ(decode_spans_modelscope(tags({"B-PER", "I-LOC", "E-ORG"})), (std::vector<UnitSpan>{{"PER", 0, 2}}));
  // An orphan I opens an entity of its own type.
  EXPECT_EQ(decode_spans_modelscope(tags({"O", "O", "I-ORG", "I-ORG"})), (std::vector<UnitSpan>{{"ORG", 2, 3}}));
  // B and S close the open entity; E/S close.
  EXPECT_EQ(decode_spans_modelscope(tags({"B-LOC", "I-LOC", "B-PER", "S-ORG", "E-LOC"})),
            (std::vector<UnitSpan>{{"LOC", 0, 1}, {"PER", 2, 2}, {"ORG", 3, 3}, {"LOC", 4, 4}}));
}

TEST(DecodeSpans, RulesPickConllevalOrModelScope) {
  // The case where they differ: an O between two PER runs (seen with tanzhen's own model on
  // 邵华泽社长感谢普罗迪总理: two people, not one).
  const std::vector<Tag> path = tags({"B-PER", "I-PER", "O", "I-PER"});
  EXPECT_EQ(decode_spans(path, SpanRules::kConlleval), (std::vector<UnitSpan>{{"PER", 0, 1}, {"PER", 3, 3}}));
  EXPECT_EQ(decode_spans(path, SpanRules::kModelScope), (std::vector<UnitSpan>{{"PER", 0, 3}}));
}

}  // namespace
}  // namespace tanzhen
