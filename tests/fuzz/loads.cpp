// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary text given to QuerySet::loads() (the dumps() format of <dorm/serialize.hpp>) on the
// test models, as a QuerySet of instances and of Rows.
//
// A text that does not load must be refused with a dorm::Error (guarded()). A text that loads must compile, for
// SQLite and PostgreSQL, to statements sql_invariants.hpp accepts: the text names fields and gives values, it never
// contributes SQL. The loaded QuerySet must also dump again, and that text must load to the same statements.
//
// Input: byte 0 picks the model (a letter in the seeds: 'e' Entry, 'b' Blog, 'c' Comment, 's' Sample; any other byte
// by its value), the rest is the text.
#include "sql_invariants.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using dorm_fuzz::Dialect;

template <class QS>
std::string statements(const QS& qs, std::string_view context) {
    return dorm_fuzz::compile_and_check(qs, Dialect::sqlite, context) + "\n" +
           dorm_fuzz::compile_and_check(qs, Dialect::postgresql, context);
}

/// The loaded QuerySet's statements are checked; it dumps again, to a text that loads to the same statements.
template <class M, class QS>
void check(const QS& qs, std::string_view text) {
    std::string first = statements(qs, text);
    std::string again;
    try {
        again = qs.dumps();
    } catch (const dorm::Error& e) {
        dorm_fuzz::fail("a loaded QuerySet does not dump", e.what(), {}, text);
    }
    std::optional<QS> reloaded;
    dorm_fuzz::guarded(again, [&] { reloaded = QS::template loads<M>(again); });
    if (!reloaded) dorm_fuzz::fail("the text dumps() wrote does not load", again, {}, text);
    if (statements(*reloaded, again) != first) dorm_fuzz::fail("dump and load changed the statements", again, first, text);
}

template <class M>
void run(std::string_view text) {
    std::optional<dorm::QuerySet<M>> instances;
    dorm_fuzz::guarded(text, [&] { instances = dorm::QuerySet<M>::loads(text); });
    if (instances) check<M>(*instances, text);
    std::optional<dorm::QuerySet<dorm::Row>> rows;
    dorm_fuzz::guarded(text, [&] { rows = dorm::QuerySet<dorm::Row>::loads<M>(text); });
    if (rows) check<M>(*rows, text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    dorm_fuzz::setup_databases();
    if (size < 1) return 0;
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0]) {
        case 'e': run<Entry>(text); break;
        case 'b': run<Blog>(text); break;
        case 'c': run<Comment>(text); break;
        case 's': run<Sample>(text); break;
        default:
            switch (data[0] % 4) {
                case 0: run<Entry>(text); break;
                case 1: run<Blog>(text); break;
                case 2: run<Comment>(text); break;
                default: run<Sample>(text); break;
            }
    }
    return 0;
}
