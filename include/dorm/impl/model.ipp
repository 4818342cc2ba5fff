// SPDX-License-Identifier: MIT
// Definitions for <dorm/model.hpp>: compiled once in separate mode, inline in header-only mode.
#pragma once

#include <dorm/model.hpp>

namespace dorm {

DORM_DECL auto ModelMeta::find_related(std::string_view n) const -> const RelatedObject* {
    for (const auto& r : related_objects)
        if (!r.hidden && r.query_name == n) {
            if (r.clashes)
                throw FieldError(fmt::format("dorm: the reverse name '{}' on {} is ambiguous: give the ForeignKeys "
                                             "pointing here distinct related_name()s", n, name));
            return &r;
        }
    return nullptr;
}

DORM_DECL auto ModelMeta::find_many_to_many(std::string_view n) const -> const ManyToManyRelation* {
    for (const auto& r : many_to_many)
        if (r.query_name == n) {
            if (!r.error.empty()) throw FieldError(r.error);
            if (r.clashes)
                throw FieldError(fmt::format("dorm: the reverse name '{}' on {} is ambiguous: give the relations "
                                             "pointing here distinct related_name()s", n, name));
            return &r;
        }
    return nullptr;
}

DORM_DECL auto ModelMeta::find_field(std::string_view n) const noexcept -> const FieldMeta* {
    if (n.size() == 2 && n[0] == 'p' && n[1] == 'k') return &fields[pk];  // get(pk) asks each time: no call
    for (const auto& f : fields)
        if (f.name == n) return &f;
    // A ForeignKey's attname, "<name>_id", whatever its db_column (Django's Field.attname).
    if (n.size() > 3 && n.ends_with("_id"))
        for (const auto& f : fields)
            if (f.is_relation() && n.size() == f.name.size() + 3 && n.starts_with(f.name)) return &f;
    return nullptr;
}

DORM_DECL auto ModelMeta::choices() const -> std::string {
    std::vector<std::string_view> names;
    for (const auto& f : fields) names.push_back(f.name);
    for (const auto& r : related_objects)
        if (!r.hidden) names.push_back(r.query_name);
    for (const auto& r : many_to_many) names.push_back(r.query_name);
    std::sort(names.begin(), names.end());
    return fmt::format("{}", fmt::join(names, ", "));
}
}  // namespace dorm

namespace dorm::detail {

DORM_DECL MetaBuilder::MetaBuilder(std::string_view name) {
    meta.name = std::string(name);
    meta.db_table = lower(meta.name);
}

DORM_DECL void MetaBuilder::column(std::size_t index, std::string_view name, const ColumnAccess& access) {
    FieldMeta f;
    f.name = std::string(name);
    f.kind = access.kind;
    f.nullable = access.nullable;
    f.index = meta.fields.size();
    f.column = access.related ? f.name + "_id" : f.name;
    f.related = access.related;
    f.one_to_one = access.one_to_one;
    f.get = access.get;
    f.set = access.set;
    f.text = access.text;
    f.assigned = access.assigned;
    f.attach = access.attach;
    meta.fields.push_back(std::move(f));
    declared.push_back(index);
}

DORM_DECL void MetaBuilder::many_to_many(std::size_t index, std::string_view name, const ModelMeta& (*target)(),
                                         const ModelMeta& (*through)(), bool auto_created, bool symmetrical) {
    ManyToManyRelation r;
    r.query_name = r.accessor_name = std::string(name);
    r.target_meta = target;
    r.through_meta = through;
    r.auto_created = auto_created;
    r.symmetrical = symmetrical;
    meta.many_to_many.push_back(std::move(r));
    m2m_declared.push_back(index);
}

DORM_DECL void MetaBuilder::size_options(MetaOptions& options, std::size_t fields) {
    options.field_options.resize(fields);
}

DORM_DECL void MetaBuilder::finish(MetaOptions&& options) {
    apply_options(meta, std::move(options), declared, m2m_declared);
}

DORM_DECL void apply_options(ModelMeta& meta, MetaOptions&& options, std::span<const std::size_t> declared,
                             std::span<const std::size_t> m2m_declared) {
    if (!options.db_table.empty()) meta.db_table = options.db_table;
    for (std::size_t i = 0; i < meta.many_to_many.size(); ++i) {
        auto& r = meta.many_to_many[i];
        const auto& o = options.field_options[m2m_declared[i]];
        r.related_name = o.related_name_;
        r.symmetrical = o.symmetrical_.value_or(r.symmetrical);
    }

    bool have_pk = false;
    for (std::size_t i = 0; i < meta.fields.size(); ++i) {
        auto& f = meta.fields[i];
        const auto& o = options.field_options[declared[i]];
        f.unique = o.unique_ || f.one_to_one;
        f.db_index = o.db_index_;
        f.max_length = o.max_length_;
        f.default_value = o.default_value_;
        f.on_delete = o.on_delete_;
        f.related_name = o.related_name_;
        if (!o.db_column_.empty()) f.column = o.db_column_;
        if (o.primary_key_) {
            if (have_pk)
                throw FieldError(fmt::format("dorm: model {} marks more than one field primary_key()", meta.name));
            have_pk = true;
            meta.pk = i;
            f.primary_key = true;
        }
    }
    if (!have_pk) {
        auto it = std::find_if(meta.fields.begin(), meta.fields.end(), [](auto& f) { return f.name == "id"; });
        if (it == meta.fields.end())
            throw FieldError(fmt::format("dorm: model {} has no primary key; add an `std::int64_t id` member to "
                                         "DORM_MODEL or mark one with m.field(&{}::x).primary_key()",
                                         meta.name, meta.name));
        bool integral = it->kind == FieldKind::integer || it->kind == FieldKind::big_integer ||
                        it->kind == FieldKind::small_integer;
        if (!integral || it->is_relation() || it->nullable)
            throw FieldError(fmt::format("dorm: model {}'s automatic primary key 'id' must be a plain integer",
                                         meta.name));
        it->primary_key = true;
        it->auto_increment = true;
        meta.pk = static_cast<std::size_t>(it - meta.fields.begin());
    }
    auto& pk = meta.fields[meta.pk];
    if (pk.nullable) throw FieldError(fmt::format("dorm: {}'s primary key cannot be std::optional", meta.name));
    pk.unique = true;

    auto check = [&](std::string_view what, std::string_view name) {
        if (!meta.find_field(name))
            throw FieldError(fmt::format("dorm: {}'s {} refers to the nonexistent field '{}'. Choices are: {}",
                                         meta.name, what, name, meta.choices()));
    };
    for (auto& o : options.ordering) {
        if (o == "?") continue;
        check("ordering", !o.empty() && o[0] == '-' ? std::string_view(o).substr(1) : std::string_view(o));
    }
    for (auto& g : options.get_latest_by)
        check("get_latest_by", !g.empty() && g[0] == '-' ? std::string_view(g).substr(1) : std::string_view(g));
    for (auto& group : options.unique_together)
        for (auto& n : group) check("unique_together", n);
    for (auto& idx : options.indexes) {
        if (idx.fields.empty()) throw FieldError(fmt::format("dorm: {} has an index without fields", meta.name));
        for (auto& n : idx.fields) check("indexes", !n.empty() && n[0] == '-' ? std::string_view(n).substr(1) : std::string_view(n));
    }
    meta.ordering = std::move(options.ordering);
    meta.get_latest_by = std::move(options.get_latest_by);
    meta.unique_together = std::move(options.unique_together);
    meta.indexes = std::move(options.indexes);
}

DORM_DECL std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

DORM_DECL bool mark_clashes(const ModelMeta& target, std::string_view name, std::string_view accessor) {
    bool clash = false;
    for (auto& r : target.related_objects)
        if (!r.hidden && (r.query_name == name || r.accessor_name == accessor)) clash = r.clashes = true;
    for (auto& r : target.many_to_many)
        if (r.reverse && (r.query_name == name || r.accessor_name == accessor)) clash = r.clashes = true;
    return clash;
}

DORM_DECL void register_many_to_many(const ModelMeta& meta, std::size_t i) {
    const ModelMeta& target = meta.many_to_many[i].target_meta();
    const ModelMeta& through = meta.many_to_many[i].through_meta();  // registers the join table's ForeignKeys
    auto& r = meta.many_to_many[i];  // after the calls above, which may add to the vector (self-reference)
    r.model = &target;
    r.through = &through;
    std::vector<const FieldMeta*> to_this, to_target;
    for (const auto& f : through.fields) {
        if (!f.is_relation()) continue;
        const ModelMeta& t = f.related();
        if (&t == &meta) to_this.push_back(&f);
        else if (&t == &target) to_target.push_back(&f);
    }
    if (&meta == &target && to_this.size() == 2) {
        r.from = to_this[0];
        r.to = to_this[1];
    } else if (&meta != &target && to_this.size() == 1 && to_target.size() == 1) {
        r.from = to_this[0];
        r.to = to_target[0];
    } else {
        r.error = fmt::format("dorm: {}.{}'s through model {} needs exactly one ForeignKey to {} and one to {}",
                              meta.name, r.query_name, through.name, meta.name, target.name);
        return;
    }
    if (r.symmetrical && (&meta != &target || !r.auto_created)) {
        r.error = fmt::format("dorm: {}.{} is symmetrical(), which needs a relation to its own model and dorm's own "
                              "join table (no through model)", meta.name, r.query_name);
        return;
    }
    if (r.related_name.ends_with('+') || r.symmetrical) return;  // no reverse relation (the links go both ways)
    ManyToManyRelation back;
    back.query_name = r.related_name.empty() ? lower(meta.name) : r.related_name;
    back.accessor_name = r.related_name.empty() ? lower(meta.name) + "_set" : r.related_name;
    back.model = &meta;
    back.through = &through;
    back.from = r.to;
    back.to = r.from;
    back.reverse = true;
    back.auto_created = r.auto_created;
    back.clashes = mark_clashes(target, back.query_name, back.accessor_name);
    target.many_to_many.push_back(std::move(back));
}

DORM_DECL bool register_related(const ModelMeta& meta) {
    std::lock_guard lock(related_objects_mutex());
    for (const auto& f : meta.fields) {
        if (!f.is_relation()) continue;
        const ModelMeta& target = f.related();
        bool known = false;
        for (const auto& r : target.related_objects) known = known || r.field == &f;
        if (known) continue;
        bool hidden = f.related_name.ends_with('+');
        std::string name = f.related_name.empty() ? lower(meta.name) : f.related_name;
        std::string accessor = f.related_name.empty() ? lower(meta.name) + (f.one_to_one ? "" : "_set") : f.related_name;
        bool clash = !hidden && mark_clashes(target, name, accessor);
        target.related_objects.push_back(RelatedObject{&meta, &f, std::move(name), std::move(accessor), clash, hidden});
    }
    for (std::size_t i = 0; i < meta.many_to_many.size(); ++i)
        if (!meta.many_to_many[i].reverse && !meta.many_to_many[i].through) register_many_to_many(meta, i);
    return true;
}

}  // namespace dorm::detail

namespace dorm {
DORM_DEFAULT_VALUE_MEMBERS(ModelMeta);

DORM_DECL FieldOptions& FieldOptions::default_(Value v) {
    default_value_ = std::move(v);
    return *this;
}
}  // namespace dorm

namespace dorm::detail {
DORM_DECL bool pk_unset(const ModelMeta& meta, const void* obj) {
    const auto& pk = meta.pk_field();
    if (!pk.auto_increment) return false;
    const Value v = pk.get(obj);
    const auto* i = std::get_if<std::int64_t>(&v.variant());  // v == Value(0), without making and visiting one
    return v.is_null() || (i && *i == 0);
}

DORM_DECL std::string default_model_str(const ModelMeta& meta, const void* obj) {
    Value pk = pk_unset(meta, obj) ? Value{} : meta.pk_field().get(obj);
    return fmt::format("{} object ({})", meta.name, pk.holds<std::string>() ? pk.as<std::string>() : fmt::format("{}", pk));
}

DORM_DECL std::string model_repr(std::string_view model_name, std::string_view str) {
    return fmt::format("<{}: {}>", model_name, str);
}
}  // namespace dorm::detail

namespace dorm {
DORM_DEFAULT_VALUE_MEMBERS(MetaOptions);
}  // namespace dorm
