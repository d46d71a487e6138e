// The words of a transcript, lower-cased, without punctuation: for peers whose punctuation differs from
// faster-whisper's (whisper.cpp and transformers end jfk with a full stop) while every word must be right.
#pragma once
#include <cctype>
#include <string>

namespace wst::test {

inline std::string words(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (std::isspace(static_cast<unsigned char>(c)) && !out.empty() && out.back() != ' ')
      out += ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace wst::test
