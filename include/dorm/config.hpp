// SPDX-License-Identifier: MIT
// Build mode: header-only (the default) or separate compilation (DORM_SEPARATE_COMPILATION, Asio's model).
#pragma once

// In header-only mode every non-template function of the runtime is an inline definition that each translation
// unit compiles again. Defining DORM_SEPARATE_COMPILATION makes the headers declare them only; one translation
// unit that includes <dorm/src.hpp> (or the CMake package's compiled targets) defines them once.
#if defined(DORM_SEPARATE_COMPILATION)
#define DORM_HEADER_ONLY 0
#define DORM_DECL
#else
#define DORM_HEADER_ONLY 1
#define DORM_DECL inline
#endif

// Plain-data types whose copying and destruction would otherwise be compiled in every translation unit that copies
// one: the class declares its special members with DORM_VALUE_MEMBERS(T), its .ipp defaults them with
// DORM_DEFAULT_VALUE_MEMBERS(T), so they are compiled once in separate mode.
#define DORM_VALUE_MEMBERS(T) \
    T();                      \
    T(const T&);              \
    T(T&&) noexcept;          \
    T& operator=(const T&);   \
    T& operator=(T&&) noexcept; \
    ~T()
#define DORM_DEFAULT_VALUE_MEMBERS(T)                  \
    DORM_DECL T::T() = default;                        \
    DORM_DECL T::T(const T&) = default;                \
    DORM_DECL T::T(T&&) noexcept = default;            \
    DORM_DECL T& T::operator=(const T&) = default;     \
    DORM_DECL T& T::operator=(T&&) noexcept = default; \
    DORM_DECL T::~T() = default
