// SPDX-License-Identifier: MIT
// The exception hierarchy: Django's names (FieldError, DoesNotExist, ...) and PEP 249's database errors.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace dorm {

/// Base of every exception dorm throws.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A lookup, field name or expression does not fit the model (Django's FieldError).
class FieldError : public Error {
public:
    using Error::Error;
};

/// A field name the model does not have where Django asks Options.get_field() (only(), defer(), update(),
/// bulk_update(), bulk_create()'s field lists, in_bulk(), refresh_from_db(fields)), or a raw() query without the
/// primary key (Django's FieldDoesNotExist; not a FieldError, as in Django).
class FieldDoesNotExist : public Error {
public:
    using Error::Error;
};

/// Python's ValueError: an argument has the right type but a value that is not allowed.
class ValueError : public Error {
public:
    using Error::Error;
};

/// Python's TypeError: an operation is not allowed on this QuerySet or value.
class TypeError : public Error {
public:
    using Error::Error;
};

/// Python's IndexError: `qs[n]` past the end of the results.
class IndexError : public Error {
public:
    using Error::Error;
};

/// Python's KeyError: a Row has no value by that name.
class KeyError : public Error {
public:
    using Error::Error;
};

/// Python's AttributeError: prefetch_related() names something the objects do not have (Django's "Cannot find
/// 'x' on Blog object").
class AttributeError : public Error {
public:
    using Error::Error;
};

/// Base of every model's DoesNotExist (Django's ObjectDoesNotExist).
class ObjectDoesNotExist : public Error {
public:
    using Error::Error;
};

/// `get()` found nothing: `Entry::DoesNotExist` is `DoesNotExist<Entry>`.
template <class Model>
class DoesNotExist : public ObjectDoesNotExist {
public:
    using ObjectDoesNotExist::ObjectDoesNotExist;
};

/// A reverse one-to-one with no object (Django's `user.profile` raising `User.profile.RelatedObjectDoesNotExist`):
/// a DoesNotExist of the related model, so that `catch (const Profile::DoesNotExist&)` catches it too.
template <class Model>
class RelatedObjectDoesNotExist : public DoesNotExist<Model> {
public:
    using DoesNotExist<Model>::DoesNotExist;
};

/// Base of every model's MultipleObjectsReturned.
class MultipleObjectsReturned : public Error {
public:
    using Error::Error;
};

/// `get()` found more than one row: `Entry::MultipleObjectsReturned`.
template <class Model>
class ModelMultipleObjectsReturned : public MultipleObjectsReturned {
public:
    using MultipleObjectsReturned::MultipleObjectsReturned;
};

/// Python's RuntimeError, where Django raises it (a durable atomic block inside another).
class RuntimeError : public Error {
public:
    using Error::Error;
};

/// Python's NotImplementedError (a RuntimeError), where Django raises it: a combination of features Django
/// does not implement either.
class NotImplementedError : public RuntimeError {
public:
    using RuntimeError::RuntimeError;
};

/// PEP 249's InterfaceError: misuse of the database interface itself (no such database alias, bad URL).
class InterfaceError : public Error {
public:
    using Error::Error;
};

/// PEP 249's DatabaseError; carries the SQL that failed and the driver's code
/// (an SQLite result code name, or a PostgreSQL SQLSTATE).
class DatabaseError : public Error {
public:
    explicit DatabaseError(const std::string& message, std::string sql = {}, std::string code = {})
        : Error(message), sql_(std::move(sql)), code_(std::move(code)) {}
    /// The statement that failed, with placeholders; empty when none was running.
    const std::string& sql() const noexcept { return sql_; }
    /// SQLite: the extended result code's name ("SQLITE_CONSTRAINT_UNIQUE"); PostgreSQL: the SQLSTATE.
    const std::string& code() const noexcept { return code_; }

private:
    std::string sql_;
    std::string code_;
};

#define DORM_DATABASE_ERROR_(name, base)                      \
    class name : public base {                                \
    public:                                                   \
        using base::base;                                     \
    };
DORM_DATABASE_ERROR_(DataError, DatabaseError)
DORM_DATABASE_ERROR_(OperationalError, DatabaseError)
DORM_DATABASE_ERROR_(IntegrityError, DatabaseError)
DORM_DATABASE_ERROR_(InternalError, DatabaseError)
DORM_DATABASE_ERROR_(ProgrammingError, DatabaseError)
DORM_DATABASE_ERROR_(NotSupportedError, DatabaseError)
/// Django: a transaction was used the wrong way (e.g. select_for_update outside atomic()).
DORM_DATABASE_ERROR_(TransactionManagementError, ProgrammingError)
/// Django: deleting an object referenced through on_delete=PROTECT.
DORM_DATABASE_ERROR_(ProtectedError, IntegrityError)
/// Django: deleting an object referenced through on_delete=RESTRICT.
DORM_DATABASE_ERROR_(RestrictedError, IntegrityError)
#undef DORM_DATABASE_ERROR_

namespace detail {
/// The TransactionManagementError of a statement refused because an earlier one broke the transaction (Django's
/// "An error occurred in the current transaction..."), or of a block that cannot commit a transaction lost that
/// way: a type of its own, so that when_all() can tell such a refusal from a transaction used the wrong way.
class BrokenTransactionError : public TransactionManagementError {
public:
    using TransactionManagementError::TransactionManagementError;
};
}  // namespace detail

}  // namespace dorm
