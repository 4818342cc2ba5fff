// SPDX-License-Identifier: MIT
// The join table dorm makes for a ManyToMany without a through model: a model of its own, defined once DORM_MODEL's
// instance functions are declared (the umbrella headers include this one).
#pragma once

#include <dorm/model.hpp>
#include <dorm/query_set.hpp>

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

namespace dorm::detail {
/// The join table of a ManyToMany declared without a through model (Owner's DORM_MODEL field I), as Django makes
/// it: table `<owner table>_<field>`, ForeignKeys named after the two models ("entry", "author"; "from_person",
/// "to_person" when both ends are one model), each pair once, no reverse names.
template <class Owner, std::size_t I>
struct AutoThrough {
    using Target = typename field_type_t<Owner, I>::model_type;
    std::int64_t id = 0;
    ForeignKey<Owner> from;
    ForeignKey<Target> to;
    DORM_MODEL(AutoThrough, id, from, to)

    static void dorm_adjust(ModelMeta& meta) {
        const ModelMeta& owner = model_meta<Owner>();
        const std::string field(std::get<I>(Owner::dorm_fields()).name);
        meta.name = owner.name + "_" + field;
        meta.db_table = owner.db_table + "_" + field;
        std::string a = lower(Owner::dorm_name()), b = lower(Target::dorm_name());
        if (a == b) {
            a = "from_" + a;
            b = "to_" + b;
        }
        for (auto [f, name] : {std::pair{&meta.fields[1], a}, std::pair{&meta.fields[2], b}}) {
            f->name = name;
            f->column = name + "_id";
            f->related_name = meta.name + "+";
        }
        meta.unique_together = {{a, b}};
    }
};
}  // namespace dorm::detail
