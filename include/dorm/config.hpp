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
