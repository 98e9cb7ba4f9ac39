#include "tanzhen/tasks/tag_scheme.h"

namespace tanzhen {

const char* tag_scheme_name(TagScheme s) {
  switch (s) {
    case TagScheme::kIO: return "IO";
    case TagScheme::kBIO: return "BIO";
    case TagScheme::kBIOES: return "BIOES";
    case TagScheme::kBMES: return "BMES";
  }
  return "?";
}

namespace {

bool is_filler_label(const std::string& label) {
  static const char* const kFillers[] = {"O", "X", "[CLS]", "[SEP]", "[PAD]", "<pad>",
                                         "<START>", "<STOP>", "<start>", "<eos>", ""};
  for (const char* f : kFillers)
    if (label == f) return true;
  return false;
}

// The raw prefix letter of "B-PER" / "B_PER" (before normalisation), or 0 for a bare type.
char raw_prefix(const std::string& label) {
  if (label.size() >= 3 && (label[1] == '-' || label[1] == '_')) {
    switch (label[0]) {
      case 'B': case 'I': case 'M': case 'E': case 'S': case 'L': case 'U': return label[0];
      default: break;
    }
  }
  return 0;
}

// The entity being built while scanning tags.
struct OpenSpan {
  bool is_open = false;
  UnitSpan span;
  void start(const std::string& type, int i) {
    is_open = true;
    span = {type, i, i};
  }
};

}  // namespace

Tag parse_tag(const std::string& label) {
  if (is_filler_label(label)) return {};
  char p = raw_prefix(label);
  if (p == 0) return {'I', label};  // bare type: IO scheme
  std::string type = label.substr(2);
  switch (p) {
    case 'M': p = 'I'; break;
    case 'L': p = 'E'; break;
    case 'U': p = 'S'; break;
    default: break;
  }
  return {p, std::move(type)};
}

std::vector<Tag> parse_tags(const std::vector<std::string>& labels) {
  std::vector<Tag> out;
  out.reserve(labels.size());
  for (const auto& l : labels) out.push_back(parse_tag(l));
  return out;
}

TagScheme detect_tag_scheme(const std::vector<std::string>& labels) {
  bool has_b = false, has_m = false, has_end = false;
  for (const auto& l : labels) {
    if (is_filler_label(l)) continue;
    switch (raw_prefix(l)) {
      case 'B': has_b = true; break;
      case 'M': has_m = true; break;
      case 'E': case 'S': case 'L': case 'U': has_end = true; break;
      default: break;
    }
  }
  if (has_end) return has_m ? TagScheme::kBMES : TagScheme::kBIOES;
  if (has_b) return TagScheme::kBIO;
  return TagScheme::kIO;
}

std::vector<UnitSpan> decode_spans(const std::vector<Tag>& tags) {
  std::vector<UnitSpan> spans;
  OpenSpan open;
  auto close = [&] {
    if (open.is_open) spans.push_back(open.span);
    open.is_open = false;
  };
  for (int i = 0; i < static_cast<int>(tags.size()); ++i) {
    const Tag& t = tags[i];
    switch (t.prefix) {
      case 'B':
        close();
        open.start(t.type, i);
        break;
      case 'I':
      case 'E':
        if (open.is_open && open.span.type == t.type) {
          open.span.last = i;
        } else {  // orphan: starts a new entity (conlleval)
          close();
          open.start(t.type, i);
        }
        if (t.prefix == 'E') close();
        break;
      case 'S':
        close();
        spans.push_back({t.type, i, i});
        break;
      default:  // O
        close();
        break;
    }
  }
  close();
  return spans;
}

std::vector<UnitSpan> decode_spans_modelscope(const std::vector<Tag>& tags) {
  std::vector<UnitSpan> spans;
  OpenSpan open;
  for (int i = 0; i < static_cast<int>(tags.size()); ++i) {
    const Tag& t = tags[i];
    const char p = t.prefix;
    if (p == 'B' || p == 'S') {
      if (open.is_open) spans.push_back(open.span);
      open.start(t.type, i);
    }
    if (p == 'I' || p == 'E' || p == 'S') {
      if (!open.is_open) open.start(t.type, i);
      open.span.last = i;
    }
    if ((p == 'E' || p == 'S') && open.is_open) {
      spans.push_back(open.span);
      open.is_open = false;
    }
  }
  if (open.is_open) spans.push_back(open.span);
  return spans;
}

std::vector<UnitSpan> decode_spans(const std::vector<Tag>& tags, SpanRules rules) {
  return rules == SpanRules::kModelScope ? decode_spans_modelscope(tags) : decode_spans(tags);
}

}  // namespace tanzhen
