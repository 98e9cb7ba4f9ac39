// Entity tag schemes (IO, BIO, BIOES/BMES) and the rules that turn a sequence of tags into
// entity spans.
//
// Label spellings understood: "O"; "B-PER" / "B_PER" with prefixes B, I, M (= I), E, S, and the
// BILOU spellings L (= E), U (= S); a bare type such as "PER" is an IO tag (= "I-PER", as in
// Hugging Face). Filler labels some BERT-CRF checkpoints carry ("X", "[CLS]", "[SEP]", "[PAD]",
// "<pad>", "<START>", "<STOP>", "<start>", "<eos>") are treated as O.
#pragma once
#include <string>
#include <vector>

namespace tanzhen {

enum class TagScheme { kIO, kBIO, kBIOES, kBMES };
const char* tag_scheme_name(TagScheme s);

// One parsed label: prefix is 'O', 'B', 'I', 'E' or 'S' (M/L/U and bare types normalised).
struct Tag {
  char prefix = 'O';
  std::string type;  // empty for O
  bool operator==(const Tag&) const = default;
};

Tag parse_tag(const std::string& label);
std::vector<Tag> parse_tags(const std::vector<std::string>& labels);

// The scheme a label set is written in: E/S (or L/U) present -> BIOES (BMES when M is used for
// the inside tag); B present -> BIO; otherwise IO.
TagScheme detect_tag_scheme(const std::vector<std::string>& labels);

// An entity over decoding units (tokens or words), both ends inclusive.
struct UnitSpan {
  std::string type;
  int first = 0;
  int last = 0;
  bool operator==(const UnitSpan&) const = default;
};

// Standard decoding with the conlleval repair rule, valid for every scheme above:
//   B-T        closes any open entity and opens a T entity;
//   I-T        extends an open T entity; otherwise (nothing open, or a different type open) it
//              closes what is open and opens a T entity — an orphan I- acts as B-;
//   E-T        like I-T, then closes the entity (an orphan E- is a one-unit entity);
//   S-T        closes any open entity and emits a one-unit T entity;
//   O          closes any open entity.
// An entity still open at the end is emitted. IO tags therefore merge runs of the same type.
std::vector<UnitSpan> decode_spans(const std::vector<Tag>& tags);

// ModelScope RaNER (transformer-crf) span rules, kept exactly for parity with that pipeline:
// B/S open an entity (closing any open one); I/E extend the open entity whatever its type, or
// open one when none is open; E/S close; O does *not* close an open entity (a later I/E of the
// entity still extends it); an entity still open at the end is emitted.
std::vector<UnitSpan> decode_spans_modelscope(const std::vector<Tag>& tags);

// Which of the two rule sets above reads a model's tags. A model is decoded the way it was
// trained and scored: conlleval for Hugging Face-layout models (tanzhen's own default model is
// trained and scored that way), ModelScope's for ModelScope checkpoints, whose pipeline tanzhen
// matches exactly. They differ when an O falls inside what the other rules would join, e.g.
// B-PER I-PER O I-PER: two entities under conlleval, one under ModelScope's rules.
enum class SpanRules { kConlleval, kModelScope };
std::vector<UnitSpan> decode_spans(const std::vector<Tag>& tags, SpanRules rules);

}  // namespace tanzhen
