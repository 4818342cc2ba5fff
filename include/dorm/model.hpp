// SPDX-License-Identifier: MIT
// DORM_MODEL, compile-time field descriptors, model options (Meta) and the runtime ModelMeta built from them.
#pragma once

#include <dorm/config.hpp>

#include <dorm/detail/map_macro.hpp>
#include <dorm/errors.hpp>
#include <dorm/fields.hpp>
#include <dorm/row.hpp>
#include <dorm/value.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace dorm {

namespace detail {
template <class M>
struct meta_builder;
template <class M>
auto objects_of();
template <class Owner, std::size_t I>
struct AutoThrough;
}  // namespace detail

struct ModelMeta;
struct MetaOptions;
namespace detail {
/// Applies a model's Meta options to its metadata and checks them (the part of building a ModelMeta that does not
/// depend on the model's type). `declared` / `m2m_declared`: the DORM_MODEL index of each column and ManyToMany.
DORM_DECL void apply_options(ModelMeta& meta, MetaOptions&& options, std::span<const std::size_t> declared,
                             std::span<const std::size_t> m2m_declared);
}  // namespace detail

/// An index on one or more fields (Django's Meta.indexes); a leading '-' makes that column descending.
struct Index {
    std::vector<std::string> fields;
    std::string name;  // generated from the table and fields when empty
};

/// Per-field options (Django's field arguments), set in the model's `meta()` through `m.field(&M::member)`.
class FieldOptions {
public:
    FieldOptions& primary_key(bool on = true) { primary_key_ = on; return *this; }
    FieldOptions& unique(bool on = true) { unique_ = on; return *this; }
    FieldOptions& db_index(bool on = true) { db_index_ = on; return *this; }
    FieldOptions& max_length(int n) { max_length_ = n; return *this; }
    FieldOptions& db_column(std::string name) { db_column_ = std::move(name); return *this; }
    /// Value for instances dorm creates from name/value pairs, and the column's DDL DEFAULT.
    FieldOptions& default_(Value v);
    FieldOptions& on_delete(OnDelete action) { on_delete_ = action; return *this; }
    FieldOptions& related_name(std::string name) { related_name_ = std::move(name); return *this; }
    /// A ManyToMany to its own model: whether a link goes both ways (Django's default, true) or one way.
    FieldOptions& symmetrical(bool on) { symmetrical_ = on; return *this; }

private:
    friend void detail::apply_options(ModelMeta&, MetaOptions&&, std::span<const std::size_t>,
                                      std::span<const std::size_t>);
    bool primary_key_ = false, unique_ = false, db_index_ = false;
    std::optional<int> max_length_;
    std::string db_column_;
    std::optional<Value> default_value_;
    OnDelete on_delete_ = OnDelete::cascade;
    std::string related_name_;
    std::optional<bool> symmetrical_;
};

/// Model options (Django's `class Meta`), filled by an optional `static void meta(dorm::Meta<M>& m)` in the model:
///
///     static void meta(dorm::Meta<Entry>& m) {
///         m.db_table = "blog_entry";
///         m.ordering = {"-pub_date", "headline"};
///         m.get_latest_by = {"pub_date"};
///         m.field(&Entry::headline).max_length(255).db_index();
///     }
/// Meta<M>'s data, the same for every model (so that what is done with it is compiled once).
struct MetaOptions {
    DORM_VALUE_MEMBERS(MetaOptions);  // compiled once (config.hpp)
    std::string db_table;                               // default: the model's name in lower case
    std::vector<std::string> ordering;                  // default order_by() of every QuerySet
    std::vector<std::string> get_latest_by;             // fields for latest() / earliest() without arguments
    std::vector<std::vector<std::string>> unique_together;
    std::vector<Index> indexes;
    std::vector<FieldOptions> field_options;  // one per DORM_MODEL field, in order
};

template <class M>
struct Meta : MetaOptions {
    /// The options of one field: `m.field(&Entry::headline).unique()`.
    template <class T>
    FieldOptions& field(T M::*member);
};

struct ModelMeta;
struct ModelState;

/// A ForeignKey of another model that points at this one, seen from this side (Django's related object):
/// `blog.entry_set`, `Blog::objects().filter("entry__rating__gt", 3)`.
struct RelatedObject {
    const ModelMeta* model = nullptr;  // the model holding the ForeignKey (Entry)
    const FieldMeta* field = nullptr;  // the ForeignKey (Entry.blog)
    std::string query_name;            // the name in lookup paths: related_name, or the model's name in lower case
    std::string accessor_name;         // related_name, or "<model>_set"
    bool clashes = false;              // another relation to this model has the same name (Django's fields.E304)
    bool hidden = false;               // related_name ending in '+' (a ManyToMany's join table): no reverse name,
                                       // but deletions still cascade along it
};

/// A ManyToMany seen from one side: Entry's "authors" (declared there) or Author's "entry" (its reverse). Crossing
/// it is two joins: to the join table on `from`, then to the other model on `to`.
struct ManyToManyRelation {
    std::string query_name;             // in lookup paths: the field's name; on the other side related_name or the
                                        // declaring model's name in lower case
    std::string accessor_name;          // prefetch_related() name: the field's name; "<model>_set" or related_name
    const ModelMeta* model = nullptr;   // the model at the other end
    const ModelMeta* through = nullptr; // the join table
    const FieldMeta* from = nullptr;    // the join table's ForeignKey to this side
    const FieldMeta* to = nullptr;      // the join table's ForeignKey to the other side
    bool reverse = false;               // declared on the other model
    bool auto_created = false;          // dorm's own join table, made by create_tables
    bool symmetrical = false;           // to its own model, both ways: each link is stored in both directions
    bool clashes = false;
    // The declaring side, until the join table's metadata is built (after this model's, as it points here).
    const ModelMeta& (*through_meta)() = nullptr;
    const ModelMeta& (*target_meta)() = nullptr;
    std::string related_name;
    std::string error;  // why the relation could not be set up (a through model without the ForeignKeys): raised on use
};

/// The runtime metadata of one model: table, fields, options. One static instance per model.
struct ModelMeta {
    DORM_VALUE_MEMBERS(ModelMeta);  // compiled once (config.hpp)

    std::string name;      // "Entry"
    std::string db_table;  // "entry"
    std::vector<FieldMeta> fields;
    std::size_t pk = 0;
    std::vector<std::string> ordering;
    std::vector<std::string> get_latest_by;
    std::vector<std::vector<std::string>> unique_together;
    std::vector<Index> indexes;
    /// Type-erased pieces for code that knows the model only by its metadata (select_related(), prefetching):
    /// a new instance with its members' initial values; its fields set from a row of all the model's columns;
    /// lists of instances (a new detail::ResultCache<M>, filled; a default instance appended to one; its size
    /// and elements); and an instance's state.
    std::shared_ptr<void> (*make)() = nullptr;
    void (*load_into)(void* obj, std::span<const backends::Cell> row) = nullptr;
    std::shared_ptr<void> (*new_cache)() = nullptr;
    void* (*cache_emplace)(void* cache) = nullptr;
    std::size_t (*cache_size)(const void* cache) = nullptr;
    void* (*cache_at)(void* cache, std::size_t i) = nullptr;
    ModelState& (*state)(void* obj) = nullptr;
    /// Django's repr(obj) of an instance: "<Entry: Entry object (1)>", or the model's own str() inside.
    std::string (*repr)(const void* obj) = nullptr;
    /// ForeignKeys of other models pointing here, registered as those models' metadata is built (DORM_MODEL
    /// builds it before main()). Mutable: a model learns of them after its own metadata exists.
    mutable std::vector<RelatedObject> related_objects;
    /// ManyToMany relations: declared here, then (registered like related_objects) those of other models.
    mutable std::vector<ManyToManyRelation> many_to_many;

    const FieldMeta& pk_field() const noexcept { return fields[pk]; }

    /// The reverse relation named `n` in lookups ("entry" or a related_name), or nullptr.
    const RelatedObject* find_related(std::string_view n) const;

    /// The ManyToMany relation named `n` in lookups ("authors", or "entry" on the other side), or nullptr.
    const ManyToManyRelation* find_many_to_many(std::string_view n) const;
    /// Whether `n` names something a lookup path can continue with: a field or a relation.
    bool has_name(std::string_view n) const {
        return find_field(n) || find_related(n) || find_many_to_many(n);
    }

    /// A field by name, by "pk", or by a ForeignKey's attname ("blog_id", whatever its db_column); nullptr if none.
    const FieldMeta* find_field(std::string_view n) const noexcept;
    /// Like find_field, but throws FieldDoesNotExist (listing the choices), as Django's Options.get_field().
    const FieldMeta& get_field(std::string_view n) const {
        if (auto* f = find_field(n)) return *f;
        throw FieldDoesNotExist(fmt::format("dorm: {} has no field named '{}'. Choices are: {}", name, n, choices()));
    }
    /// "blog, body_text, headline, id, ..." sorted, as in Django's FieldError.
    std::string choices() const;
};

namespace detail {
/// A QuerySet's results once loaded; also what prefetch_related() stores per instance and relation.
template <class T>
struct ResultCache {
    std::vector<T> items;
    bool filled = false;
};
}  // namespace detail

namespace sql {
struct Query;
}

/// Related objects prefetch_related() stored on an instance: a detail::ResultCache of `model`'s type.
struct PrefetchedList {
    const ModelMeta* model = nullptr;
    std::shared_ptr<void> cache;
    /// The Prefetch queryset the list was loaded with under a relation's own name (no to_attr): the related
    /// manager builds on it, as Django's does on the queryset it stored (its filters and ordering), until a write.
    std::shared_ptr<const sql::Query> queryset{};
};

/// Per-instance state DORM_MODEL adds as its one hidden member (Django's `_state`).
struct ModelState {
    const std::string* db = nullptr;  // alias of the database the instance was loaded from or saved to
    bool adding = true;               // not yet saved to or loaded from a database
    std::shared_ptr<const Row> annotations{};  // annotate() values, when the QuerySet had any
    std::shared_ptr<const std::vector<std::string>> deferred{};  // fields defer() / only() left unloaded
    /// prefetch_related() results: relation (or to_attr) name -> the related objects.
    std::shared_ptr<std::map<std::string, PrefetchedList, std::less<>>> prefetched{};
};

namespace detail {
inline const Row& empty_row() {
    static const Row r;
    return r;
}
}  // namespace detail

/// Options of Model::save() (Django's save() arguments).
struct SaveOptions {
    bool force_insert = false;
    bool force_update = false;
    std::vector<std::string> update_fields{};  // only these columns; empty = all
    std::string_view using_{};                 // database alias; empty = the instance's, or "default"
};

/// Options of Model::refresh_from_db() (Django's refresh_from_db() arguments).
struct RefreshOptions {
    std::string_view using_{};           // database alias; empty = the instance's, or "default"
    std::vector<std::string> fields{};   // only these fields (the others keep their values); empty = all
};

namespace detail {

/// A compile-time field descriptor: name and member pointer.
template <class M, class T>
struct FieldDescriptor {
    using model_type = M;
    using value_type = T;
    std::string_view name;
    T M::*member;
};

struct start_of_fields {};

template <class M, class T>
constexpr FieldDescriptor<M, T> describe(std::string_view name, T M::*member) {
    static_assert(field_traits<T>::supported,
                  "dorm: this member type is not a field type; use bool, an integer, double, std::string, "
                  "dorm::Bytes, dorm::Date, dorm::DateTime, dorm::Time, dorm::Duration, dorm::ForeignKey<M> or std::optional "
                  "of one");
    return {name, member};
}
template <class... Fs>
constexpr auto field_list(start_of_fields, Fs... fs) {
    return std::tuple<Fs...>{fs...};
}

template <class M>
concept model = requires {
    { M::dorm_name() } -> std::convertible_to<std::string_view>;
    M::dorm_fields();
};

template <class M>
inline constexpr std::size_t field_count = std::tuple_size_v<decltype(M::dorm_fields())>;

template <class M, std::size_t I>
using field_type_t = typename std::tuple_element_t<I, decltype(M::dorm_fields())>::value_type;

template <class M, std::size_t I>
constexpr auto member_of() {
    return std::get<I>(M::dorm_fields()).member;
}

/// Whether DORM_MODEL field I has a column (a ManyToMany has none).
template <class M, std::size_t I>
inline constexpr bool has_column = !is_many_to_many<field_type_t<M, I>>::value;

/// The position of field I's column among M's columns (the fields before it that have one).
template <class M, std::size_t I>
inline constexpr std::size_t column_index = []<std::size_t... J>(std::index_sequence<J...>) {
    return (std::size_t{0} + ... + std::size_t{has_column<M, J>});
}(std::make_index_sequence<I>{});

/// The number of columns of M: its fields in ModelMeta::fields, and the cells of one row.
template <class M>
inline constexpr std::size_t column_count = column_index<M, field_count<M>>;

DORM_DECL std::string lower(std::string_view s);

/// Decodes one row (all fields, in declaration order) straight into the members of `obj`.
template <class M>
void load_row(std::span<const backends::Cell> row, M& obj) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ([&] {
            if constexpr (has_column<M, I>)
                field_traits<field_type_t<M, I>>::from_cell(row[column_index<M, I>], obj.*member_of<M, I>());
        }(), ...);
    }(std::make_index_sequence<field_count<M>>{});
}

/// What add_column() knows of a column from its C++ type; the rest of its FieldMeta is built by
/// MetaBuilder::column(), compiled once.
struct ColumnAccess {
    FieldKind kind = FieldKind::integer;
    bool nullable = false;
    bool one_to_one = false;
    const ModelMeta& (*related)() = nullptr;  // a ForeignKey's target
    Value (*get)(const void* obj) = nullptr;
    void (*set)(void* obj, const Value& v) = nullptr;
    std::string* (*text)(void* obj) = nullptr;
    const void* (*assigned)(const void* obj, const std::string** db) = nullptr;
    void (*attach)(void* obj, std::shared_ptr<const void> related, const std::string* db) = nullptr;
};

/// The model-independent half of building a ModelMeta: meta_builder<M> hands it what only M's type can give.
struct MetaBuilder {
    ModelMeta meta;
    std::vector<std::size_t> declared, m2m_declared;  // the DORM_MODEL index of each column and relation

    /// Names the model (and its table, by default).
    explicit MetaBuilder(std::string_view name);
    /// Adds DORM_MODEL field `index`, a column.
    void column(std::size_t index, std::string_view name, const ColumnAccess& access);
    /// Adds DORM_MODEL field `index`, a ManyToMany.
    void many_to_many(std::size_t index, std::string_view name, const ModelMeta& (*target)(),
                      const ModelMeta& (*through)(), bool auto_created, bool symmetrical);
    /// Gives Meta<M> one FieldOptions per DORM_MODEL field, before the model's meta() fills them.
    static void size_options(MetaOptions& options, std::size_t fields);
    /// Applies the model's options and checks them.
    void finish(MetaOptions&& options);
};

template <class M>
struct meta_builder {
    /// Adds DORM_MODEL field I: a column to meta.fields or a ManyToMany relation.
    template <std::size_t I>
    static void add_field(MetaBuilder& b) {
        using T = field_type_t<M, I>;
        const std::string_view name = std::get<I>(M::dorm_fields()).name;
        if constexpr (is_many_to_many<T>::value) {
            auto target = +[]() -> const ModelMeta& { return model_meta_of<typename T::model_type>(); };
            if constexpr (std::is_void_v<typename T::through_type>) {
                // symmetrical: Django's default for "self"
                b.many_to_many(I, name, target, +[]() -> const ModelMeta& { return model_meta_of<AutoThrough<M, I>>(); },
                               true, std::is_same_v<typename T::model_type, M>);
            } else {
                b.many_to_many(I, name, target,
                               +[]() -> const ModelMeta& { return model_meta_of<typename T::through_type>(); }, false,
                               false);
            }
        } else {
            b.column(I, name, column_access<I>());
        }
    }

    template <std::size_t I>
    static ColumnAccess column_access() {
        using T = field_type_t<M, I>;
        using traits = field_traits<T>;
        ColumnAccess a;
        a.kind = traits::kind;
        a.nullable = traits::nullable;
        a.get = +[](const void* obj) -> Value {
            return traits::to_value(static_cast<const M*>(obj)->*member_of<M, I>());
        };
        a.set = +[](void* obj, const Value& v) { assign(static_cast<M*>(obj)->*member_of<M, I>(), v); };
        if constexpr (std::is_same_v<T, std::string>)
            a.text = +[](void* obj) -> std::string* { return &(static_cast<M*>(obj)->*member_of<M, I>()); };
        using Related = typename relation_of<T>::type;
        if constexpr (!std::is_void_v<Related>) {
            a.related = +[]() -> const ModelMeta& { return model_meta_of<Related>(); };
            a.one_to_one = is_one_to_one<T>::value;
            a.assigned = +[](const void* obj, const std::string** db) -> const void* {
                const auto& member = static_cast<const M*>(obj)->*member_of<M, I>();
                if constexpr (is_optional_v<T>) return member ? member->assigned(db) : nullptr;
                else return member.assigned(db);
            };
            a.attach = +[](void* obj, std::shared_ptr<const void> related, const std::string* db) {
                auto& member = static_cast<M*>(obj)->*member_of<M, I>();
                auto typed = std::static_pointer_cast<const Related>(std::move(related));
                if constexpr (is_optional_v<T>) {
                    if (member) member->attach(std::move(typed), db);
                } else {
                    member.attach(std::move(typed), db);
                }
            };
        }
        return a;
    }

    template <class T>
    static void assign(T& out, const Value& v) {
        if constexpr (is_optional_v<T>) {
            if (v.is_null()) out.reset();
            else assign(out.emplace(), v);
        } else if constexpr (is_foreign_key<T>::value) {
            out = T(v.as<typename T::key_type>());
        } else {
            if (v.is_null())
                throw TypeError("dorm: None (std::nullopt) given for a field that is not NULL-able");
            out = v.as<T>();
        }
    }

    static ModelMeta build() {
        MetaBuilder b(M::dorm_name());
        ModelMeta& meta = b.meta;
        meta.make = +[]() -> std::shared_ptr<void> { return std::make_shared<M>(); };
        meta.load_into = +[](void* obj, std::span<const backends::Cell> row) { load_row(row, *static_cast<M*>(obj)); };
        meta.new_cache = +[]() -> std::shared_ptr<void> {
            auto c = std::make_shared<ResultCache<M>>();
            c->filled = true;
            return c;
        };
        meta.cache_emplace = +[](void* cache) -> void* { return &static_cast<ResultCache<M>*>(cache)->items.emplace_back(); };
        meta.cache_size = +[](const void* cache) { return static_cast<const ResultCache<M>*>(cache)->items.size(); };
        meta.cache_at = +[](void* cache, std::size_t i) -> void* { return &static_cast<ResultCache<M>*>(cache)->items[i]; };
        meta.state = +[](void* obj) -> ModelState& { return static_cast<M*>(obj)->dorm_state_; };
        meta.repr = +[](const void* obj) { return repr_of(*static_cast<const M*>(obj)); };
        [&]<std::size_t... I>(std::index_sequence<I...>) { (add_field<I>(b), ...); }(
            std::make_index_sequence<field_count<M>>{});

        Meta<M> options;
        MetaBuilder::size_options(options, field_count<M>);
        if constexpr (requires(Meta<M>& m) { M::meta(m); }) M::meta(options);
        b.finish(std::move(options));
        if constexpr (requires { M::dorm_adjust(meta); }) M::dorm_adjust(meta);
        return std::move(meta);
    }

    template <class Rel>
    static const ModelMeta& model_meta_of();
    static std::string repr_of(const M& obj);
};

}  // namespace detail

/// The metadata of model M, built on first use (thread-safe). Throws FieldError if M's options are invalid.
namespace detail {
inline std::recursive_mutex& related_objects_mutex() {
    static std::recursive_mutex m;  // recursive: registering a ManyToMany builds (and registers) its join table
    return m;
}
/// Whether `target` already has a reverse name or accessor like these: marks the ones it has as clashing.
DORM_DECL bool mark_clashes(const ModelMeta& target, std::string_view name, std::string_view accessor);
/// Sets up ManyToMany relation `i` declared by `meta`: its join table's ForeignKeys, and the reverse relation.
DORM_DECL void register_many_to_many(const ModelMeta& meta, std::size_t i);
/// Tells the models M's ForeignKeys and ManyToManys point at about them (their related objects).
DORM_DECL bool register_related(const ModelMeta& meta);
}  // namespace detail

namespace detail {
/// Converts to any member type: `M{any_member{}...}` compiles for as many of them as M has members (Boost.PFR's
/// way of counting an aggregate's members). Only ever named in unevaluated contexts.
struct any_member {
    template <class T>
    operator T&() const&& noexcept {  // NOLINT: implicit on purpose; never called
        std::terminate();
    }
};
template <class M, std::size_t... I>
constexpr bool brace_constructible(std::index_sequence<I...>) {
    return requires { M{(void(I), any_member{})...}; };
}
template <class M, std::size_t N = 0>
constexpr std::size_t aggregate_members() {
    if constexpr (N > 256) return N;
    else if constexpr (brace_constructible<M>(std::make_index_sequence<N + 1>{})) return aggregate_members<M, N + 1>();
    else return N;
}
template <class M>
constexpr std::size_t not_persisted() {
    if constexpr (requires { M::dorm_not_persisted_; }) return std::size(M::dorm_not_persisted_) - 1;
    else return 0;
}
/// Fails to compile when a member of M is in neither DORM_MODEL nor DORM_NOT_PERSISTED: it would silently never
/// be saved. The compiler prints the two counts as this template's arguments.
template <std::size_t Members, std::size_t ListedPlusHidden>
struct check_every_member_listed {
    static_assert(Members == ListedPlusHidden,
                  "dorm: this model has a member that DORM_MODEL does not list, so it would never be saved or loaded "
                  "(the counts are this template's arguments: <members of the struct, members DORM_MODEL lists + "
                  "DORM_NOT_PERSISTED names + 1 hidden>). List it in DORM_MODEL, or name it in "
                  "DORM_NOT_PERSISTED(...) if it is deliberately not a column.");
    static constexpr bool value = true;
};
template <class M>
constexpr bool every_member_listed() {
    if constexpr (std::is_aggregate_v<M>)  // a model with constructors cannot be counted
        return check_every_member_listed<aggregate_members<M>(), field_count<M> + not_persisted<M>() + 1>::value;
    else
        return true;
}
}  // namespace detail

/// The metadata of model M, built on first use (thread-safe). Throws FieldError if M's options are invalid.
template <detail::model M>
const ModelMeta& model_meta() {
    static_assert(detail::every_member_listed<M>());
    static const ModelMeta meta = detail::meta_builder<M>::build();
    // Once `meta` exists; a flag, not a static initializer, because registering a self-referential model (or two
    // models pointing at each other) comes back here.
    static std::atomic<bool> registered{false};
    if (!registered.exchange(true)) detail::register_related(meta);
    return meta;
}

namespace detail {
/// DORM_MODEL's static registration: builds M's metadata before main() so that the models its ForeignKeys point
/// at know their reverse relations from the start. Invalid options are reported on first use instead.
template <class M>
bool register_model() noexcept {
    try {
        (void)model_meta<M>();
    } catch (...) {
    }
    return true;
}
}  // namespace detail

template <class M>
template <class Rel>
const ModelMeta& detail::meta_builder<M>::model_meta_of() {
    return model_meta<Rel>();
}

template <class M>
template <class T>
FieldOptions& Meta<M>::field(T M::*member) {
    constexpr auto fields = M::dorm_fields();
    std::size_t found = field_options.size();
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (([&] {
             if constexpr (std::is_same_v<detail::field_type_t<M, I>, T>)
                 if (std::get<I>(fields).member == member) found = I;
         }()),
         ...);
    }(std::make_index_sequence<detail::field_count<M>>{});
    if (found == field_options.size())
        throw FieldError(fmt::format("dorm: {}'s meta() names a member that is not listed in DORM_MODEL", M::dorm_name()));
    return field_options[found];
}

namespace detail {
/// The primary key of an instance as a Value.
template <class M>
Value pk_value(const M& obj) {
    const auto& meta = model_meta<M>();
    return meta.pk_field().get(&obj);
}
/// True when an instance of `meta`'s model has no primary key yet (an automatic pk still 0, Django's `pk is None`).
DORM_DECL bool pk_unset(const ModelMeta& meta, const void* obj);
template <class M>
bool pk_unset(const M& obj) {
    return pk_unset(model_meta<M>(), &obj);
}

/// Django's default str(obj), "Entry object (1)" ("Entry object (None)" before it is saved). Compiled once: the
/// formatting of a Value is no part of each model's code.
DORM_DECL std::string default_model_str(const ModelMeta& meta, const void* obj);
/// Django's repr(obj), "<Entry: str>".
DORM_DECL std::string model_repr(std::string_view model_name, std::string_view str);

/// Django's str(obj): the model's own `std::string str() const` if it has one, else "Entry object (1)".
template <class M>
std::string model_str(const M& obj) {
    if constexpr (requires { { obj.str() } -> std::convertible_to<std::string>; })
        return obj.str();
    else
        return default_model_str(model_meta<M>(), &obj);
}
}  // namespace detail

template <class M>
std::string detail::meta_builder<M>::repr_of(const M& obj) {
    return model_repr(M::dorm_name(), model_str(obj));
}

template <class M, class Key>
template <class Model>
    requires std::is_same_v<std::remove_cvref_t<Model>, M>
ForeignKey<M, Key>::ForeignKey(const Model& obj) : set_(true) {
    if (detail::pk_unset(obj))
        throw ValueError(fmt::format("dorm: cannot point a ForeignKey at an unsaved {}; save() it first",
                                     M::dorm_name()));
    id_ = detail::pk_value(obj).template as<Key>();
    cache_ = std::make_shared<const M>(obj);  // Django caches the instance assigned
    db_ = obj.dorm_state_.db;
    assigned_ = true;
}

}  // namespace dorm

#define DORM_MODEL_FIELD_(Type, member) , ::dorm::detail::describe<Type>(#member, &Type::member)

/// Declares a model: place last in the struct, listing every field member in order.
///
///     struct Blog {
///         std::int64_t id = 0;
///         std::string name;
///         DORM_MODEL(Blog, id, name)
///     };
///
/// Adds only static metadata, `objects()`, the `DoesNotExist` / `MultipleObjectsReturned` aliases,
/// `save()`, `delete_()`, `refresh_from_db()`, `pk()`, `annotations()`, and one hidden member `dorm_state_`.
#define DORM_NOT_PERSISTED_NAME_(unused, member) , #member

/// Names the members of a model that are deliberately not columns (a cache, a scratch value), after DORM_MODEL:
/// `DORM_NOT_PERSISTED(cached_total)`. Every other member must be listed in DORM_MODEL, or the model does not
/// compile: a member left out by mistake would never be saved.
#define DORM_NOT_PERSISTED(...)                                                                                    \
    static constexpr const char* dorm_not_persisted_[] = {"" DORM_FOR_EACH(DORM_NOT_PERSISTED_NAME_, _, __VA_ARGS__)};

#define DORM_MODEL(Type, ...)                                                                                      \
    using DoesNotExist = ::dorm::DoesNotExist<Type>;                                                               \
    using MultipleObjectsReturned = ::dorm::ModelMultipleObjectsReturned<Type>;                                    \
    static constexpr ::std::string_view dorm_name() noexcept { return #Type; }                                     \
    static constexpr auto dorm_fields() noexcept {                                                                 \
        return ::dorm::detail::field_list(::dorm::detail::start_of_fields{}                                        \
                                              DORM_FOR_EACH(DORM_MODEL_FIELD_, Type, __VA_ARGS__));                \
    }                                                                                                              \
    /** The model's QuerySet (Django's `Model.objects`); a custom one when the model names `queryset_type`. */    \
    template <class Self = Type>                                                                                   \
    static auto objects() {                                                                                        \
        return ::dorm::detail::objects_of<Self>();                                                                 \
    }                                                                                                              \
    /** Inserts or updates this row (Django's Model.save()). */                                                   \
    template <class Self = Type>                                                                                   \
    void save(const ::dorm::SaveOptions& options = {}) {                                                          \
        ::dorm::detail::save_instance(static_cast<Self&>(*this), options);                                         \
    }                                                                                                              \
    /** Deletes this row; returns the number deleted in total and per model. */                                   \
    template <class Self = Type>                                                                                   \
    auto delete_(::std::string_view using_ = {}) {                                                                 \
        return ::dorm::detail::delete_instance(static_cast<Self&>(*this), using_);                                 \
    }                                                                                                              \
    /** Reloads every field from the database; throws DoesNotExist if the row is gone. */                         \
    template <class Self = Type>                                                                                   \
    void refresh_from_db(::std::string_view using_ = {}) {                                                         \
        ::dorm::detail::refresh_instance(static_cast<Self&>(*this), using_);                                       \
    }                                                                                                              \
    /** Reloads some fields, or from another database: `refresh_from_db({.fields = {"rating"}})`. */              \
    template <class Self = Type>                                                                                   \
    void refresh_from_db(const ::dorm::RefreshOptions& options) {                                                  \
        ::dorm::detail::refresh_instance(static_cast<Self&>(*this), options.using_, options.fields);               \
    }                                                                                                              \
    /** Asynchronous save(), delete_() and refresh_from_db() (Django's asave() ...): see QuerySet's a-methods. */ \
    template <class Self = Type>                                                                                   \
    ::dorm::Task<void> asave(const ::dorm::SaveOptions& options = {}) {                                            \
        return ::dorm::detail::asave_instance(static_cast<Self&>(*this), options);                                 \
    }                                                                                                              \
    template <class Self = Type>                                                                                   \
    auto adelete(::std::string_view using_ = {}) {                                                                 \
        return ::dorm::detail::adelete_instance(static_cast<Self&>(*this), using_);                                \
    }                                                                                                              \
    template <class Self = Type>                                                                                   \
    ::dorm::Task<void> arefresh_from_db(::std::string_view using_ = {}) {                                          \
        return ::dorm::detail::arefresh_instance(static_cast<Self&>(*this), ::dorm::RefreshOptions{using_, {}});   \
    }                                                                                                              \
    template <class Self = Type>                                                                                   \
    ::dorm::Task<void> arefresh_from_db(const ::dorm::RefreshOptions& options) {                                   \
        return ::dorm::detail::arefresh_instance(static_cast<Self&>(*this), options);                              \
    }                                                                                                              \
    /** The primary key (Django's `obj.pk`): a null Value (Django's None) while an automatic key is unassigned. */ \
    template <class Self = Type>                                                                                   \
    ::dorm::Value pk() const {                                                                                     \
        if (::dorm::detail::pk_unset(static_cast<const Self&>(*this))) return ::dorm::Value();                     \
        return ::dorm::detail::pk_value(static_cast<const Self&>(*this));                                          \
    }                                                                                                              \
    /** The values annotate() added to this instance: `blog.annotations()["n"].as<int>()`. */                  \
    const ::dorm::Row& annotations() const noexcept {                                                              \
        return dorm_state_.annotations ? *dorm_state_.annotations : ::dorm::detail::empty_row();                   \
    }                                                                                                              \
    /** The fields defer() / only() left unloaded (they hold their default values until refresh_from_db()). */    \
    ::std::vector<::std::string> get_deferred_fields() const {                                                    \
        return dorm_state_.deferred ? *dorm_state_.deferred : ::std::vector<::std::string>{};                      \
    }                                                                                                              \
    inline static const bool dorm_registered_ = ::dorm::detail::register_model<Type>();                           \
    ::dorm::ModelState dorm_state_ = {};

#if DORM_HEADER_ONLY
#include <dorm/impl/model.ipp>
#endif

/// For models in a header that many translation units include: after the struct, `DORM_EXTERN_MODEL(Blog);` keeps
/// each of them from compiling Blog's metadata (its descriptors, loaders and options), and
/// `DORM_INSTANTIATE_MODEL(Blog);` in exactly one .cpp of the program compiles it once. Lookup paths written as
/// literals are still checked at compile time everywhere; only the run-time metadata is shared.
///
///     // models.hpp                                  // models.cpp
///     struct Blog { ... DORM_MODEL(Blog, ...) };     #include "models.hpp"
///     DORM_EXTERN_MODEL(Blog);                       DORM_INSTANTIATE_MODEL(Blog);
#define DORM_EXTERN_MODEL(Type) extern template const ::dorm::ModelMeta& ::dorm::model_meta<Type>()
#define DORM_INSTANTIATE_MODEL(Type) template const ::dorm::ModelMeta& ::dorm::model_meta<Type>()
