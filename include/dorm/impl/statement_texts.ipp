// SPDX-License-Identifier: MIT
// Definitions for <dorm/detail/statement_texts.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/detail/statement_texts.hpp>

#include <string>
#include <unordered_map>

namespace dorm::detail {

DORM_DECL std::string& text_key(char kind) {
    thread_local std::string key;
    key.assign(1, kind);
    return key;
}

namespace texts {
inline std::unordered_map<std::string, std::string>& kept() {
    thread_local std::unordered_map<std::string, std::string> texts;
    return texts;
}
}  // namespace texts

DORM_DECL const std::string* kept_text(const std::string& key) {
    auto& kept = texts::kept();
    auto it = kept.find(key);
    return it == kept.end() ? nullptr : &it->second;
}

DORM_DECL const std::string* keep_text(const std::string& key, std::string text) {
    auto& kept = texts::kept();
    if (kept.size() >= 4096) return nullptr;
    return &kept.try_emplace(key, std::move(text)).first->second;
}

}  // namespace dorm::detail
