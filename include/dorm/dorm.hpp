// SPDX-License-Identifier: MIT
// dorm core: models, QuerySets, expressions; include a backend umbrella (dorm/sqlite.hpp, dorm/postgresql.hpp) too.
#pragma once

#include <dorm/version.hpp>
#include <dorm/errors.hpp>
#include <dorm/value.hpp>
#include <dorm/row.hpp>
#include <dorm/fields.hpp>
#include <dorm/model.hpp>
#include <dorm/database.hpp>
#include <dorm/router.hpp>
#include <dorm/transaction.hpp>
#include <dorm/async.hpp>
#include <dorm/expressions.hpp>
#include <dorm/functions.hpp>
#include <dorm/lookups.hpp>
#include <dorm/lookup_declarations.hpp>
#include <dorm/custom_lookups.hpp>
#include <dorm/lookup_path.hpp>
#include <dorm/q.hpp>
#include <dorm/aggregates.hpp>
#include <dorm/window.hpp>
#include <dorm/conditional.hpp>
#include <dorm/sql/query.hpp>
#include <dorm/query_set.hpp>
#include <dorm/serialize.hpp>
#include <dorm/raw_query_set.hpp>
#include <dorm/prefetch.hpp>
#include <dorm/related.hpp>
#include <dorm/join_table.hpp>
#include <dorm/instance.hpp>
#include <dorm/schema.hpp>
#include <dorm/repr.hpp>
