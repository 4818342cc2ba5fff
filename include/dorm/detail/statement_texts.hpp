// SPDX-License-Identifier: MIT
// Kept statement texts: statements whose text depends only on their shape, never on their values (every value is
// a placeholder), written once per thread.
#pragma once

#include <dorm/config.hpp>

#include <string>

namespace dorm::detail {

/// Texts of statements that depend only on their shape, never on their values (every value is a placeholder):
/// bulk_create()'s full batches, save()'s UPDATE, a collecting delete_()'s statements. text_key() is the calling
/// thread's key buffer, cleared and starting with `kind`; add_key() appends a part (a pointer, a size, a flag).
DORM_DECL std::string& text_key(char kind);
template <class T>
void add_key(std::string& key, const T& part) {
    key.append(reinterpret_cast<const char*>(&part), sizeof part);
}
/// The text kept under `key` on this thread, or nullptr.
DORM_DECL const std::string* kept_text(const std::string& key);
/// Keeps `text` under `key` on this thread and returns it; nullptr (nothing kept) once 4096 are. Kept texts are
/// never dropped: a text is read while its statement runs, which another fiber of the thread may interleave.
DORM_DECL const std::string* keep_text(const std::string& key, std::string text);

}  // namespace dorm::detail

#if DORM_HEADER_ONLY
#include <dorm/impl/statement_texts.ipp>
#endif
