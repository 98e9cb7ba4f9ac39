// Parity with the reference tokenizer (transformers.js, an independent BertTokenizerFast): every
// record of every reference output must get exactly its input_ids and tokens.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tanzhen/text/bert_chars.h"
#include "tanzhen/text/tokenizer.h"
#include "tanzhen/text/utf8.h"
#include "test_paths.h"

namespace tanzhen {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Tokens = std::vector<std::string>;

std::vector<fs::path> reference_outputs() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(testing::shared_dir() + "/reference/outputs")) {
    if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<json> read_jsonl(const fs::path& path) {
  std::ifstream in(path);
  std::vector<json> records;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) records.push_back(json::parse(line));
  }
  return records;
}

// The text of an original span, cleaned and normalised the way the tokenizer does it.
std::string normalized_span(const std::u32string& text, Span span, const TokenizerConfig& config) {
  const bool strip = config.strip_accents < 0 ? config.do_lower_case : config.strip_accents > 0;
  std::u32string out;
  for (int i = span.start; i < span.end; ++i) {
    if (bert::is_removed(text[i])) continue;
    char32_t buf[bert::kMaxNormalizedChars];
    out.append(buf, bert::normalize_char(text[i], config.do_lower_case, strip, buf));
  }
  return encode_utf8(out);
}

// Every non-special, known token's span must read as the token (without "##").
void check_offsets(const BertTokenizer& tok, const std::u32string& text, const Encoding& enc,
                   const std::string& where) {
  const std::string specials[] = {tok.config().cls_token, tok.config().sep_token, tok.config().pad_token,
                                  tok.config().mask_token};
  int previous_start = 0;
  for (size_t i = 0; i < enc.size(); ++i) {
    const Span span = enc.offsets[i];
    const std::string& token = enc.tokens[i];
    if (enc.word_ids[i] < 0) {  // added [CLS]/[SEP]
      EXPECT_EQ(span, (Span{0, 0})) << where;
      continue;
    }
    ASSERT_LE(previous_start, span.start) << where;
    ASSERT_LT(span.start, span.end) << where;
    ASSERT_LE(span.end, static_cast<int>(text.size())) << where;
    previous_start = span.start;
    const std::string written = encode_utf8(text.substr(span.start, span.end - span.start));
    if (token == tok.config().unk_token) continue;  // an unknown word, or "[UNK]" itself
    if (std::find(std::begin(specials), std::end(specials), token) != std::end(specials)) {
      EXPECT_EQ(written, token) << where;  // a special token written in the text
      continue;
    }
    ASSERT_GE(enc.word_ids[i], 0) << where;
    const std::string expected = token.starts_with("##") ? token.substr(2) : token;
    EXPECT_EQ(normalized_span(text, span, tok.config()), expected) << where << " token " << i;
  }
}

TEST(TokenizerParity, EveryReferenceRecordMatches) {
  const auto files = reference_outputs();
  ASSERT_EQ(files.size(), 4u) << "reference outputs missing under " << testing::shared_dir();
  size_t checked = 0, truncated = 0;
  for (const auto& file : files) {
    const std::string model = file.stem().string();
    const BertTokenizer tok = BertTokenizer::from_dir(testing::reference_model(model));
    const auto records = read_jsonl(file);
    ASSERT_EQ(records.size(), 116u) << file;
    for (const auto& r : records) {
      const std::string where = model + " record " + std::to_string(r["id"].get<int>());
      const std::string text = r["text"].get<std::string>();
      const auto ref_tokens = r["tokens"].get<std::vector<std::string>>();
      const auto ref_ids = r["input_ids"].get<std::vector<int32_t>>();
      const Encoding enc = tok.encode(text, true, 512);
      if (ref_tokens.size() == 512 && ref_tokens.back() != "[SEP]") {
        // The reference cut the full encoding at 512 tokens, dropping [SEP]; Hugging Face
        // truncation (ours) keeps [CLS] + 510 tokens + [SEP]. Both must agree with the full encoding.
        const Encoding full = tok.encode(text, true, 0);
        ASSERT_GT(full.size(), 512u) << where;
        EXPECT_EQ(Tokens(full.tokens.begin(), full.tokens.begin() + 512), ref_tokens) << where;
        EXPECT_EQ(std::vector<int32_t>(full.ids.begin(), full.ids.begin() + 512), ref_ids) << where;
        ASSERT_EQ(enc.size(), 512u) << where;
        EXPECT_EQ(Tokens(enc.tokens.begin(), enc.tokens.begin() + 511), Tokens(ref_tokens.begin(), ref_tokens.begin() + 511)) << where;
        EXPECT_EQ(enc.ids.back(), tok.sep_id()) << where;
        ++truncated;
      } else {
        EXPECT_EQ(enc.tokens, ref_tokens) << where;
        EXPECT_EQ(enc.ids, ref_ids) << where;
      }
      ASSERT_EQ(enc.offsets.size(), enc.size());
      ASSERT_EQ(enc.word_ids.size(), enc.size());
      check_offsets(tok, decode_utf8(text), enc, where);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4u * 116u);
  EXPECT_EQ(truncated, 4u);  // record 23 (720 characters) of each model
}

// The models differ in which tokenizer files they carry; the answers must not.
TEST(TokenizerParity, AllReferenceCheckpointsLoadTheSameSettings) {
  for (const auto& file : reference_outputs()) {
    const BertTokenizer tok = BertTokenizer::from_dir(testing::reference_model(file.stem().string()));
    EXPECT_EQ(tok.vocab_size(), 21128u);
    EXPECT_FALSE(tok.config().do_lower_case);
    EXPECT_TRUE(tok.config().tokenize_chinese_chars);
    EXPECT_EQ(tok.unk_id(), 100);
    EXPECT_EQ(tok.cls_id(), 101);
    EXPECT_EQ(tok.sep_id(), 102);
    EXPECT_EQ(tok.mask_id(), 103);
    EXPECT_EQ(tok.pad_id(), 0);
  }
}

}  // namespace
}  // namespace tanzhen
